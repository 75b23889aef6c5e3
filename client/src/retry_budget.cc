#include <thriftpool/retry_budget.h>

#include <stdexcept>

namespace thriftpool {

RetryBudget::RetryBudget(double ratio, int min_per_second, std::chrono::seconds window)
    : ratio_(ratio),
      min_per_second_(min_per_second),
      window_seconds_(static_cast<int>(window.count())) {
  if (ratio < 0) throw std::invalid_argument("RetryBudget: ratio must not be negative");
  if (min_per_second < 0) {
    throw std::invalid_argument("RetryBudget: min_per_second must not be negative");
  }
  if (window_seconds_ < 1 || window_seconds_ > kMaxWindowSeconds) {
    throw std::invalid_argument("RetryBudget: window must be within 1..60 s");
  }
}

std::int64_t RetryBudget::SecondOf(Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

RetryBudget::Bucket& RetryBudget::CurrentBucketLocked(std::int64_t second) {
  Bucket& bucket = buckets_[static_cast<std::size_t>(second % window_seconds_)];
  if (bucket.second.load(std::memory_order_relaxed) != second) {
    bucket.calls.store(0, std::memory_order_relaxed);
    bucket.retries = 0;
    bucket.second.store(second, std::memory_order_release);
  }
  return bucket;
}

void RetryBudget::RecordCall(Clock::time_point now) {
  const std::int64_t second = SecondOf(now);
  Bucket& bucket = buckets_[static_cast<std::size_t>(second % window_seconds_)];
  // Once a second, the first call of that second recycles its bucket under the lock. A call that
  // races a recycling may land in the old count or the new: a budget needs no exact count.
  if (bucket.second.load(std::memory_order_acquire) != second) {
    std::lock_guard<std::mutex> lock(mu_);
    CurrentBucketLocked(second);
  }
  bucket.calls.fetch_add(1, std::memory_order_relaxed);
}

bool RetryBudget::TryWithdraw(Clock::time_point now) {
  const std::int64_t second = SecondOf(now);
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& current = CurrentBucketLocked(second);
  std::uint64_t calls = 0;
  std::uint64_t retries = 0;
  for (int i = 0; i < window_seconds_; ++i) {
    const Bucket& bucket = buckets_[static_cast<std::size_t>(i)];
    if (bucket.second.load(std::memory_order_relaxed) > second - window_seconds_) {
      calls += bucket.calls.load(std::memory_order_relaxed);
      retries += bucket.retries;
    }
  }
  const double allowed =
      ratio_ * static_cast<double>(calls) + static_cast<double>(min_per_second_) * window_seconds_;
  if (static_cast<double>(retries) + 1 > allowed) return false;
  ++current.retries;
  return true;
}

}  // namespace thriftpool
