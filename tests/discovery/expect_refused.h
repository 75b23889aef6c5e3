// ExpectRefused: the check every bad-input test here makes.
#ifndef THRIFTPOOL_TESTS_DISCOVERY_EXPECT_REFUSED_H_
#define THRIFTPOOL_TESTS_DISCOVERY_EXPECT_REFUSED_H_

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace thriftpool::testing_support {

// Expects `call` to throw std::invalid_argument whose message contains `part`.
template <class Call>
void ExpectRefused(Call call, const std::string& part) {
  try {
    call();
    ADD_FAILURE() << "accepted; expected an error containing '" << part << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_DISCOVERY_EXPECT_REFUSED_H_
