// The state behind PoolCore's mutex. Private to pool/src.
#ifndef THRIFTPOOL_POOL_SRC_POOL_STATE_H_
#define THRIFTPOOL_POOL_SRC_POOL_STATE_H_

#include <thriftpool/internal/pool_core.h>
#include <thriftpool/pool_stats.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <vector>

namespace thriftpool {
namespace internal {

// A Get that found nothing free. Lives on the waiting thread's stack; every field is guarded by
// the pool's mutex, which is also the mutex `cv` waits with.
struct PoolCore::Waiter {
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool queued = false;         // in the FIFO queue
  bool woken = false;          // told to try again, has not run yet (at most one waiter at a time)
  Slot* handed = nullptr;      // a slot passed straight to this waiter (counted in out)
  bool handed_unused = false;  // `handed` was never lent (a refill): a kFresh waiter may keep it
  AcquireMode mode = AcquireMode::kAny;  // kFresh: given a used slot, it replaces it
  Clock::time_point since;               // when it started waiting (precise clock)
  std::condition_variable cv;
};

// Aligned so that the fields the hot path touches (closed, idle, out, head) share one cache
// line, which then is the only line of State that moves between CPUs on a Get or a Put.
struct alignas(64) PoolCore::State {
  bool closed = false;  // Release has run
  // The ChannelPool is gone: free the core once out, creating and closing are all 0.
  bool abandoned = false;

  // Slots ready for take-out, most recently returned last (taken LIFO, so hot connections stay
  // hot and surplus ones age out). Capacity reserved for max_cap: pushing never allocates.
  std::vector<Slot*> idle;
  // Slots not on `idle`: lent out (to callers, or to the upkeep's keepalive check) or parked in a
  // ParkingSpot. Parking and taking a parked slot change neither, so the fast path needs no lock.
  std::size_t out = 0;
  std::size_t creating = 0;  // factory calls under way; they hold a place under max_cap
  std::size_t closing = 0;   // closer calls under way; they hold a place under max_cap too

  // Waiting Gets, oldest first.
  Waiter* head = nullptr;
  Waiter* tail = nullptr;
  std::size_t waiting = 0;
  bool waiter_woken = false;  // some queued waiter is woken (see Waiter::woken)

  // Upkeep thread.
  std::condition_variable upkeep_cv;    // wakes the upkeep thread early (refill, Release)
  bool refill_requested = false;        // a take-out left fewer than min_idle idle
  std::size_t refilling = 0;            // of `creating`, the upkeep's min_idle refills
  Clock::time_point refill_not_before;  // back-off after a failed refill
  std::chrono::milliseconds refill_backoff{0};

  // Cumulative counters; the gauges (open, idle, in_use, creating, waiting) are filled in by
  // Stats() from the fields above, `open` and the parking spots.
  std::size_t open = 0;  // slots that exist: idle.size() + out
  PoolStats counters;
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_SRC_POOL_STATE_H_
