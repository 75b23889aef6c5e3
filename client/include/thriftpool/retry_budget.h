// RetryBudget: caps retries at a share of recent calls, so that an outage does not multiply the
// load on a struggling server (Finagle's and brpc's retry budget).
#ifndef THRIFTPOOL_RETRY_BUDGET_H_
#define THRIFTPOOL_RETRY_BUDGET_H_

#include <thriftpool/internal/coarse_clock.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace thriftpool {

// Over a sliding window of `window` (in one-second buckets), allows
//   retries <= ratio * calls + min_per_second * window_seconds.
// Thread-safe. RecordCall, on every call's path, takes no lock: one atomic increment, after a
// reading of the pool's coarse clock (a few milliseconds' resolution is plenty for one-second
// buckets).
class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxWindowSeconds = 60;

  // Throws std::invalid_argument for ratio < 0, min_per_second < 0 or a window outside 1..60 s.
  RetryBudget(double ratio, int min_per_second, std::chrono::seconds window);

  // Records one first attempt of a call.
  void RecordCall(Clock::time_point now = internal::CoarseClock::Now());
  // Takes one retry from the budget: true if allowed (and then counted), false if spent.
  bool TryWithdraw(Clock::time_point now = internal::CoarseClock::Now());

 private:
  struct Bucket {
    // Which second since the clock's epoch this bucket counts; written under mu_ only.
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::uint64_t> calls{0};  // added to without the lock, reset under mu_
    std::uint64_t retries = 0;            // guarded by mu_
  };
  static std::int64_t SecondOf(Clock::time_point now);
  Bucket& CurrentBucketLocked(std::int64_t second);

  const double ratio_;
  const int min_per_second_;
  const int window_seconds_;
  std::mutex mu_;
  std::array<Bucket, kMaxWindowSeconds> buckets_;  // indexed by second % window
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_RETRY_BUDGET_H_
