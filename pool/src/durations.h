// A user's duration as the pool computes with it. Private to pool/src.
#ifndef THRIFTPOOL_POOL_SRC_DURATIONS_H_
#define THRIFTPOOL_POOL_SRC_DURATIONS_H_

#include <thriftpool/internal/pool_core.h>

#include <chrono>

namespace thriftpool {
namespace internal {

// The longest duration the pool adds to a time point. steady_clock counts nanoseconds in 64 bits
// (292 years) from boot, so time points up to a century ahead never overflow, while
// std::chrono::milliseconds::max() converted to nanoseconds, or added to now, would.
constexpr std::chrono::hours kForever{24 * 365 * 100};

// `d` in the clock's unit, within [0, kForever]: a longer duration means "practically forever".
// (Options validation rejects negative durations; a negative wait means "do not wait".)
template <class Rep, class Period>
constexpr Clock::duration Capped(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return Clock::duration::zero();
  return d >= kForever ? Clock::duration(kForever) : std::chrono::duration_cast<Clock::duration>(d);
}

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_SRC_DURATIONS_H_
