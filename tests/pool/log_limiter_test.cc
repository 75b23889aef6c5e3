// LogLimiter: a burst, then one line per period, with the count of the lines it dropped.
#include <gtest/gtest.h>
#include <thriftpool/internal/log_limiter.h>

#include <chrono>
#include <cstdint>
#include <thread>

namespace thriftpool {
namespace internal {
namespace {

using std::chrono::milliseconds;

TEST(LogLimiterTest, ABurstThenNothingUntilAPeriodPassed) {
  LogLimiter limiter(3, milliseconds(200));
  std::uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Allow(&suppressed)) << i;
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.Allow(&suppressed));
  std::this_thread::sleep_for(milliseconds(250));
  ASSERT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 1000u);  // said once, then forgotten
  EXPECT_FALSE(limiter.Allow(&suppressed));
}

TEST(LogLimiterTest, RefillsAtMostTheBurst) {
  LogLimiter limiter(2, milliseconds(20));
  std::uint64_t suppressed = 0;
  EXPECT_TRUE(limiter.Allow(&suppressed));
  EXPECT_TRUE(limiter.Allow(&suppressed));
  std::this_thread::sleep_for(milliseconds(200));  // ten periods: back to 2, not 10
  EXPECT_TRUE(limiter.Allow(&suppressed));
  EXPECT_TRUE(limiter.Allow(&suppressed));
  EXPECT_FALSE(limiter.Allow(&suppressed));
}

TEST(LogLimiterTest, DefaultsAreTenThenOnePerSixSeconds) {
  LogLimiter limiter;
  std::uint64_t suppressed = 0;
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limiter.Allow(&suppressed) ? 1 : 0;
  EXPECT_EQ(allowed, LogLimiter::kBurst);
  EXPECT_EQ(LogLimiter::kBurst, 10);
  EXPECT_EQ(LogLimiter::kPeriod, std::chrono::seconds(6));
}

}  // namespace
}  // namespace internal
}  // namespace thriftpool
