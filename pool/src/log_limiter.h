// Rate limiting for the pool's log lines. Private to pool/src.
#ifndef THRIFTPOOL_POOL_SRC_LOG_LIMITER_H_
#define THRIFTPOOL_POOL_SRC_LOG_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <mutex>

namespace thriftpool {
namespace internal {

// Lets through a burst of kBurst lines, then one per kPeriod: a failure that hits every call
// (every lease leaks because the server hangs) logs a few lines a minute, not one per call.
// Thread-safe; its own small lock, never taken with the pool's.
class LogLimiter {
 public:
  static constexpr int kBurst = 10;
  static constexpr std::chrono::seconds kPeriod{6};

  // Whether to log a line now; if so, *suppressed is how many were dropped since the last one.
  bool Allow(std::uint64_t* suppressed) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    if (tokens_ < kBurst && now - refilled_ >= kPeriod) {
      const auto periods = (now - refilled_) / kPeriod;
      tokens_ = periods >= kBurst - tokens_ ? kBurst : tokens_ + static_cast<int>(periods);
      refilled_ = now;
    }
    if (tokens_ == 0) {
      ++suppressed_;
      return false;
    }
    if (tokens_-- == kBurst) refilled_ = now;  // the period counts from the first line spent
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  std::mutex mu_;
  int tokens_ = kBurst;                             // guarded by mu_
  std::chrono::steady_clock::time_point refilled_;  // guarded by mu_
  std::uint64_t suppressed_ = 0;                    // guarded by mu_
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_SRC_LOG_LIMITER_H_
