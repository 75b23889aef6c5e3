// WaitFor: polls a condition with a bound, for tests that wait for something another thread or
// process does.
#ifndef THRIFTPOOL_TESTS_SUPPORT_WAIT_FOR_H_
#define THRIFTPOOL_TESTS_SUPPORT_WAIT_FOR_H_

#include <chrono>
#include <thread>

namespace thriftpool::testing_support {

// Polls `condition` every 2 ms until it holds or `timeout` passes; returns its last value.
template <typename Condition>
bool WaitFor(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_WAIT_FOR_H_
