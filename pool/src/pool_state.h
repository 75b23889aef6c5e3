// The state behind PoolCore's mutex. Private to pool/src.
#ifndef THRIFTPOOL_POOL_SRC_POOL_STATE_H_
#define THRIFTPOOL_POOL_SRC_POOL_STATE_H_

#include <thriftpool/internal/log_limiter.h>
#include <thriftpool/internal/pool_core.h>
#include <thriftpool/pool_stats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace thriftpool {
namespace internal {

// A Get that found nothing free. A record owned by State (waiters), reused by later waits and
// never freed before the core: a thread that notified a waiter notifies its `cv` after unlocking.
// Every field is guarded by the pool's mutex, which is also the mutex the waits use. A young
// waiter waits on State::young_cv, shared; once it has waited DueAfterLocked() it is due and
// waits on its own `cv`, for a slot handed to it or a wake-up meant for it.
struct PoolCore::Waiter {
  Waiter() = default;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool queued = false;         // in the FIFO queue
  bool due = false;            // has waited DueAfterLocked(): Puts hand slots to it
  bool woken = false;          // due, told to try again, has not run yet (counted in State::woken)
  bool notify_listed = false;  // in State::to_notify
  Slot* handed = nullptr;      // a slot passed straight to this waiter (counted in out)
  bool handed_unused = false;  // `handed` was never lent (a refill): a kFresh waiter may keep it
  AcquireMode mode = AcquireMode::kAny;  // kFresh: given a used slot, it replaces it
  Clock::time_point since;               // when it started waiting (precise clock)
  Clock::time_point due_at;              // since + DueAfterLocked() when it queued
  std::condition_variable cv;            // waited on once due
};

// Aligned to a cache line, so that nothing else shares its lines. A Get or a Put under the lock
// reads four of them: closed, idle and out; head; the notification counts (Lock::unlock); open
// and refill_requested (min_idle). Packing those into two lines, young_cv on lines of its own,
// did not move contention_bench (2026-12-05), nor did moving the mutex onto those lines
// (2026-12-06, docs/contention.md), so the fields stay in the order that explains them.
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

  // Parking is blocked and a complete sweep ran since it was blocked: no spot holds a slot
  // (TryPark parks nothing while blocked), so a Get about to wait need not sweep again. Cleared
  // when parking is unblocked (RefreshParkingLocked).
  bool spots_clear = false;

  // Waiting Gets, oldest first.
  Waiter* head = nullptr;
  Waiter* tail = nullptr;
  std::size_t waiting = 0;
  std::size_t young = 0;  // of them, not due yet: they wait on young_cv
  std::size_t woken = 0;  // due waiters told to try again that have not run yet
  // Moving average (1/16 weight) of how long slots taken out under contention stayed out (Slot::
  // taken_at): what DueAfterLocked counts in. Zero until the first such return.
  Clock::duration mean_hold{0};
  // Shared by the young waiters, as a hand-written pool's one condition variable is by all of
  // its waiters: glibc's pthread_cond_signal waits for the waiters it woke earlier before it
  // switches groups, and that is what serves woken waiters ahead of running threads
  // (pool_core.cc, "Contention").
  std::condition_variable young_cv;
  // Waiters to notify once the lock is released (Lock): due ones, at most kMaxToNotify, and
  // young_cv.notify_one() calls.
  static constexpr int kMaxToNotify = 8;
  Waiter* to_notify[kMaxToNotify] = {};
  int to_notify_count = 0;
  std::size_t young_to_notify = 0;
  // Lock::unlock calls between releasing the lock and notifying: they still use waiter records
  // and young_cv, so the core is not freed before they are done (FreeableLocked).
  std::size_t notifiers = 0;
  // Every Waiter record made so far (addresses stay valid: deque) and those free for reuse.
  std::deque<Waiter> waiters;
  std::vector<Waiter*> free_waiters;

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

  // Leak detection only: every open slot (Slot::index is its place), so that the upkeep finds
  // the lent ones. Capacity reserved for max_cap.
  std::vector<Slot*> slots;
  // For the leak lines; not guarded by mu_ (it has its own lock, taken without mu_).
  LogLimiter leak_log;
};

// A lease the upkeep found held past the leak detection threshold.
struct PoolCore::Leak {
  const char* file;
  int line;
  std::chrono::nanoseconds held;
};

// The pool's mutex held, like std::unique_lock, except that releasing it also delivers the
// notifications queued while it was held (NotifyAfterUnlockLocked). A waiter notified under the
// lock wakes only to block on it again, while the notifier, still holding it, usually takes the
// object back itself (see pool_core.cc, "Contention").
class PoolCore::Lock {
 public:
  explicit Lock(PoolCore& core) : core_(core), lock_(core.mu_) {}
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock() {
    if (lock_.owns_lock()) unlock();
  }
  void lock() { lock_.lock(); }
  void unlock() {
    State& st = *core_.state_;
    const int count = st.to_notify_count;
    const std::size_t young = st.young_to_notify;
    if (count == 0 && young == 0) {
      lock_.unlock();
      return;
    }
    Waiter* notify[State::kMaxToNotify];
    for (int i = 0; i < count; ++i) {
      notify[i] = st.to_notify[i];
      notify[i]->notify_listed = false;
    }
    st.to_notify_count = 0;
    st.young_to_notify = 0;
    ++st.notifiers;
    lock_.unlock();
    for (int i = 0; i < count; ++i) notify[i]->cv.notify_one();
    for (std::size_t i = 0; i < young; ++i) st.young_cv.notify_one();
    lock_.lock();
    --st.notifiers;
    const bool free_core = core_.FreeableLocked();
    lock_.unlock();
    if (free_core) delete &core_;
  }
  // Delivers the queued notifications now, before this thread waits on a condition variable.
  void Flush() {
    if (core_.state_->to_notify_count == 0 && core_.state_->young_to_notify == 0) return;
    unlock();
    lock();
  }
  std::unique_lock<std::mutex>& raw() { return lock_; }

 private:
  PoolCore& core_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_SRC_POOL_STATE_H_
