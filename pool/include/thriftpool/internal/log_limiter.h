// Rate limiting for log lines that a failure could repeat per call. Not part of the public API.
#ifndef THRIFTPOOL_INTERNAL_LOG_LIMITER_H_
#define THRIFTPOOL_INTERNAL_LOG_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <mutex>

namespace thriftpool {
namespace internal {

// Lets through a burst of kBurst lines, then one per kPeriod: a failure that hits every call
// (every lease leaks because the server hangs) logs a few lines a minute, not one per call.
// Thread-safe; its own small lock (the pool never takes it with its own).
class LogLimiter {
 public:
  static constexpr int kBurst = 10;
  static constexpr std::chrono::seconds kPeriod{6};

  explicit LogLimiter(int burst = kBurst, std::chrono::steady_clock::duration period = kPeriod)
      : burst_(burst), period_(period), tokens_(burst) {}

  // Whether to log a line now; if so, *suppressed is how many were dropped since the last one.
  bool Allow(std::uint64_t* suppressed) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    if (tokens_ < burst_ && now - refilled_ >= period_) {
      const auto periods = (now - refilled_) / period_;
      tokens_ = periods >= burst_ - tokens_ ? burst_ : tokens_ + static_cast<int>(periods);
      refilled_ = now;
    }
    if (tokens_ == 0) {
      ++suppressed_;
      return false;
    }
    if (tokens_-- == burst_) refilled_ = now;  // the period counts from the first line spent
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  const int burst_;
  const std::chrono::steady_clock::duration period_;
  std::mutex mu_;
  int tokens_;                                      // guarded by mu_
  std::chrono::steady_clock::time_point refilled_;  // guarded by mu_
  std::uint64_t suppressed_ = 0;                    // guarded by mu_
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_INTERNAL_LOG_LIMITER_H_
