// PoolStats: a consistent snapshot of a pool's counters.
#ifndef THRIFTPOOL_POOL_STATS_H_
#define THRIFTPOOL_POOL_STATS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace thriftpool {

// Taken under the pool's lock, so the invariants hold in every snapshot:
//   open == idle + in_use, open == created - closed, open + creating + closing <= max_cap, and
//   closed == closed_idle_timeout + closed_max_lifetime + closed_max_idle + closed_broken +
//             closed_replaced + closed_on_release.
// Get and Put of a connection its thread returned last take no lock, so while they run the split
// of open into idle and in_use may be a moment old; open and the sums above are always exact.
struct PoolStats {
  std::size_t max_cap = 0;
  std::size_t open = 0;      // connections that exist: idle + in_use
  std::size_t idle = 0;      // waiting in the pool
  std::size_t in_use = 0;    // lent out (to callers, or to the background keepalive check)
  std::size_t creating = 0;  // factory calls under way (not counted in open)
  std::size_t closing = 0;   // closer calls under way (counted in closed, not in open)
  std::size_t waiting = 0;   // Get calls waiting now

  std::uint64_t created = 0;          // factory successes
  std::uint64_t create_failures = 0;  // factory exceptions
  std::uint64_t closed = 0;           // closer calls, whatever the reason
  std::uint64_t closed_idle_timeout = 0;
  std::uint64_t closed_max_lifetime = 0;
  std::uint64_t closed_max_idle = 0;    // returned while max_idle were idle
  std::uint64_t closed_broken = 0;      // discarded, marked broken, or failed a ping
  std::uint64_t closed_replaced = 0;    // idle ones closed to make room for a fresh connection
  std::uint64_t closed_on_release = 0;  // closed by Release, or returned after it
  std::uint64_t close_errors = 0;       // closer calls that threw (swallowed)

  std::uint64_t wait_count = 0;  // Get calls that had to wait
  // Get calls that ended in PoolTimeoutError. A Get with a wait of 0 never waits: when nothing
  // is free it counts here, not in wait_count.
  std::uint64_t wait_timeouts = 0;
  std::chrono::nanoseconds wait_duration{0};      // total time spent waiting
  std::chrono::nanoseconds max_wait_duration{0};  // longest single wait

  // Leases found held longer than PoolOptions::leak_detection_threshold (each counted once).
  std::uint64_t leaks_detected = 0;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_STATS_H_
