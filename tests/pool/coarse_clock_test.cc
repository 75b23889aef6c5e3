#include <gtest/gtest.h>
#include <thriftpool/internal/coarse_clock.h>

#include <chrono>

namespace thriftpool::internal {
namespace {

TEST(CoarseClock, ReadsTheSteadyClock) {
  // Same origin as steady_clock, behind it by at most the coarse clock's resolution (a few ms).
  const auto before = std::chrono::steady_clock::now();
  const auto coarse = CoarseClock::Now();
  const auto after = std::chrono::steady_clock::now();
  EXPECT_GT(coarse, before - std::chrono::milliseconds(50));
  EXPECT_LE(coarse, after);
}

}  // namespace
}  // namespace thriftpool::internal
