#include <gtest/gtest.h>
#include <thriftpool/retry_budget.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace thriftpool {
namespace {

using std::chrono::seconds;
const RetryBudget::Clock::time_point kStart{seconds(1000)};

int Withdrawals(RetryBudget& budget, int attempts, RetryBudget::Clock::time_point now) {
  int granted = 0;
  for (int i = 0; i < attempts; ++i) granted += budget.TryWithdraw(now) ? 1 : 0;
  return granted;
}

TEST(RetryBudget, FloorAllowsRetriesWithoutCalls) {
  RetryBudget budget(0.2, 3, seconds(10));
  EXPECT_EQ(Withdrawals(budget, 100, kStart), 30);  // 3 per second over 10 s
}

TEST(RetryBudget, RatioOfCallsOnTopOfTheFloor) {
  RetryBudget budget(0.2, 0, seconds(10));
  for (int i = 0; i < 1000; ++i) budget.RecordCall(kStart);
  EXPECT_EQ(Withdrawals(budget, 1000, kStart), 200);
}

TEST(RetryBudget, OldSecondsLeaveTheWindow) {
  RetryBudget budget(0.5, 0, seconds(2));
  for (int i = 0; i < 100; ++i) budget.RecordCall(kStart);
  EXPECT_EQ(Withdrawals(budget, 100, kStart), 50);
  // Two seconds later both the calls and the retries have left the window.
  EXPECT_EQ(Withdrawals(budget, 10, kStart + seconds(2)), 0);
  for (int i = 0; i < 10; ++i) budget.RecordCall(kStart + seconds(2));
  EXPECT_EQ(Withdrawals(budget, 10, kStart + seconds(2)), 5);
}

TEST(RetryBudget, ZeroBudgetNeverRetries) {
  RetryBudget budget(0, 0, seconds(1));
  for (int i = 0; i < 100; ++i) budget.RecordCall(kStart);
  EXPECT_FALSE(budget.TryWithdraw(kStart));
}

TEST(RetryBudget, CallsFromManyThreadsAreAllCounted) {
  RetryBudget budget(0.5, 0, seconds(10));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) budget.RecordCall(kStart);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(Withdrawals(budget, 5000, kStart), 2000);
}

TEST(RetryBudget, RejectsBadParameters) {
  EXPECT_THROW(RetryBudget(-1, 0, seconds(1)), std::invalid_argument);
  EXPECT_THROW(RetryBudget(0.2, -1, seconds(1)), std::invalid_argument);
  EXPECT_THROW(RetryBudget(0.2, 1, seconds(0)), std::invalid_argument);
  EXPECT_THROW(RetryBudget(0.2, 1, seconds(61)), std::invalid_argument);
}

}  // namespace
}  // namespace thriftpool
