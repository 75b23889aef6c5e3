// The type-erased engine behind ChannelPool<T>. Not part of the public API: use channel_pool.h.
#ifndef THRIFTPOOL_INTERNAL_POOL_CORE_H_
#define THRIFTPOOL_INTERNAL_POOL_CORE_H_

#include <thriftpool/internal/metric_shards.h>
#include <thriftpool/metrics_registry.h>
#include <thriftpool/pool_options.h>
#include <thriftpool/pool_stats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace thriftpool {
namespace internal {

using Clock = std::chrono::steady_clock;

// What the engine needs from the typed pool. Create may throw; Close and Check must not.
class ObjectHooks {
 public:
  virtual ~ObjectHooks() = default;
  // Makes a new object (runs the user's factory).
  virtual void* Create() = 0;
  // Runs the user's closer once, then destroys the object. Returns false if the closer threw.
  virtual bool Close(void* object) noexcept = 0;
  // Take-out check (the pinger). Only called when HasTakeOutCheck().
  virtual bool CheckOnTakeOut(void* object) noexcept = 0;
  // Background check (the keepalive pinger). Only called when HasKeepaliveCheck().
  virtual bool CheckWhileIdle(void* object) noexcept = 0;
  virtual bool HasTakeOutCheck() const = 0;
  virtual bool HasKeepaliveCheck() const = 0;
};

// One pooled object and its times. Allocated when the object is created, freed when it is closed.
// On cache lines of its own: every return writes its times and returner, and two slots in one
// line, lent to threads on different CPUs, made each return miss on the other's line
// (contention_bench, 64 / 16, paired rounds against the hand-written pool: 0.8-2.1% more
// throughput and 1-2% less CPU per cycle than without the alignment, docs/contention.md).
struct alignas(64) Slot {
  void* object = nullptr;
  Clock::time_point created_at;   // precise, for Lease::created_at()
  Clock::time_point expires_at;   // created_at + jittered max_lifetime, or max() when off
  Clock::time_point checked_at;   // coarse: last return or successful keepalive check
  Clock::time_point returned_at;  // coarse: last return (idle_timeout counts from here)
  // The thread that returned it last, by its ThisThreadNumber() (see PopIdleLocked); no thread's
  // number at first. A thread that takes over an exited one's number inherits its preference.
  std::size_t returned_by = ~std::size_t{0};
  // Precise: when a take-out under contention (a waiter queued, or the taker one) lent it; zero
  // otherwise. Its return under the lock turns it into a hold for State::mean_hold; a return to a
  // parking spot clears it. Written, like returned_by, by whoever has the slot.
  Clock::time_point taken_at;
  // While lent out, with metrics or leak detection on: when it was lent (coarse clock, ns since
  // its epoch, lowest bit clear; 0 when not lent), plus kLeakReported once the upkeep reported
  // it; and the file and line of the Get. Atomic: the upkeep reads them while the lease is out.
  std::atomic<std::int64_t> lent_at{0};
  std::atomic<const char*> taken_file{nullptr};
  std::atomic<int> taken_line{0};
  // Its place in State::slots (leak detection only).
  std::size_t index = 0;
};

// Set in Slot::lent_at once the lease was reported as a leak.
constexpr std::int64_t kLeakReported = 1;

// Where a Put leaves a slot for the thread that returned it, without the pool's lock (see
// pool_core.cc). Each on a cache line of its own, so threads on different spots share no line.
struct alignas(64) ParkingSpot {
  // nullptr, a parked Slot*, or a Slot* with kParkingBit set while its returner is deciding.
  std::atomic<std::uintptr_t> slot{0};
};

// "This Get has not started its clock yet" (see PoolCore::AcquireSlow).
constexpr Clock::time_point kNotStarted = Clock::time_point::min();

enum class AcquireMode {
  kAny,    // an idle object if one is good, else a new one
  kFresh,  // always a newly created object (an idle one may be closed to make room)
};

class PoolCore {
 public:
  // `options` must already be valid. Opens options.initial_cap objects (a factory exception
  // propagates after the ones already made are closed) and starts the upkeep thread if needed.
  PoolCore(const PoolOptions& options, std::unique_ptr<ObjectHooks> hooks);
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  // Hands out a slot, waiting at most `wait`, for a caller at `file`:`line` (leak reports).
  // Throws PoolTimeoutError, PoolClosedError, or whatever the factory throws.
  Slot* Acquire(std::chrono::milliseconds wait, AcquireMode mode, const char* file, int line);
  // Takes a slot back: kept, handed to a waiter, or closed (broken, expired, over max_idle,
  // released).
  void Return(Slot* slot, bool broken) noexcept;
  // Closes the idle objects, fails every waiter and later Acquire with PoolClosedError, stops
  // the upkeep thread. Idempotent.
  void Release() noexcept;
  // Drops the metrics registration now (a Render under way finishes first). Idempotent.
  void UnregisterMetrics() noexcept;
  // The owning pool is gone: Release, then free this core once no slot is lent out. The caller
  // must not touch the core afterwards.
  void Abandon() noexcept;

  std::size_t IdleCount() const;
  PoolStats Stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  struct Waiter;
  struct State;
  class Lock;
  struct Leak;

  // The histograms of metrics_.
  enum Histogram { kAcquireTime, kUsageTime, kConnectTime, kHistograms };
  using Metrics = MetricShards<kHistograms, 0>;

  // Acquire without the accounting: sets `*started` when the Get waited, created or ran a pinger
  // (see AcquireSlow), and `*coarse_now` when it read the coarse clock on the lock-free path.
  Slot* Take(std::chrono::milliseconds wait, AcquireMode mode, Clock::time_point* started,
             Clock::time_point* coarse_now);
  // Accounting for a slot lent to a caller (metrics or leak detection on), `started` and
  // `coarse_now` as Take left them.
  void Lend(Slot* slot, Clock::time_point started, Clock::time_point coarse_now, const char* file,
            int line) noexcept;
  // Accounting for a lease that ended at `now` (coarse): its usage time, a leak's second line.
  void Unlend(Slot* slot, Clock::time_point now) noexcept;
  // Runs the factory (timed, with metrics on).
  void* CreateObject();
  // Counts a slot made by CreateObject as open.
  void AdmitLocked(Slot* slot);
  // Leak detection (upkeep.cc): marks the leases held past the threshold and appends them.
  void FindLeaksLocked(Clock::time_point now, std::vector<Leak>* leaks);
  // Logs a leak found by the upkeep, or (`came_back`) the end of a lease reported as one; at
  // most a few lines a minute (State::leak_log).
  void LogLeak(const Leak& leak, bool came_back) noexcept;
  void CollectMetrics(PoolMetrics* metrics) const;

  // Lock-free hot path (parking_ only). TryParked takes the slot parked in this thread's spot and
  // checks it (nullptr: none, or it failed and was closed); TryPark parks a returned slot (false:
  // the spot is taken or parking is blocked, so the caller must shelve it under the lock).
  // `started` (see AcquireSlow) is set when a pinger runs; `*coarse_now` when it reads the clock.
  Slot* TryParked(Clock::time_point* started, Clock::time_point* coarse_now);
  bool TryPark(Slot* slot, Clock::time_point now);
  // The spot of the thread with this ThisThreadNumber() (threads whose numbers collide share it).
  ParkingSpot& SpotOf(std::size_t thread_number) const;
  // Moves parked slots to the idle stack; returns how many. With `complete`, also waits for
  // returners that are deciding whether to park, so that no slot is parked after it returns
  // while parking_blocked_ stays set.
  std::size_t SweepParkedLocked(bool complete);
  // Parked slots now (a snapshot: the fast path does not take the lock).
  std::size_t ParkedCountLocked() const;
  // Before a Get creates or waits: moves slots parked by other threads to the idle stack and
  // returns whether there were any. When the Get would wait, first blocks parking.
  bool ClaimParkedLocked();
  // parking_blocked_ = the pool is closed, a Get is waiting, or min_idle is set and there is room
  // to create (a take-out may need a refill). Called wherever one of those changes.
  void RefreshParkingLocked();
  // The slow part of Return, under the lock.
  void ReturnLocked(Slot* slot, bool broken, Clock::time_point now) noexcept;

  // Everything but the hot path of Acquire: creating, waiting, retrying after a bad slot. The
  // wait ends at `started` + `wait`, where `started` is when this Get first ran a pinger, or else
  // (kNotStarted) when it came here.
  Slot* AcquireSlow(Lock& lock, std::chrono::milliseconds wait, AcquireMode mode,
                    Clock::time_point* started);
  // Takes the most recently returned idle slot for a caller (asks for a refill below min_idle).
  Slot* PopIdleLocked();
  // Wakes the upkeep to refill when the pool is open, fewer than min_idle are idle, and there is
  // room to create.
  void RequestRefillIfUsefulLocked();
  // Returns `slot` if it may be handed out (not expired, pinger passed, pool open); otherwise
  // closes it (with the lock released) and returns nullptr. Releases the lock for the pinger.
  // A `waiter` (not queued while it checks what it was given) goes back to the head of the queue
  // before the bad slot's close frees a place, so the wake-up that frees is its own.
  Slot* CheckOutLocked(Lock& lock, Slot* slot, Waiter* waiter, Clock::time_point* started);
  // Runs the take-out pinger (no lock held; sets `*started` if it is still kNotStarted), then,
  // since the pinger may have taken long, the expiry checks again. Sets `*reason` (a closed_*
  // counter) when `slot` must not be handed out.
  void PingAndRecheck(const Slot& slot, Clock::time_point* started,
                      std::uint64_t PoolStats::** reason) const;
  // Creates a slot for the caller, releasing the lock during the factory call. Its place under
  // max_cap is that of `replaced` (a lent-out slot, closed first) when given, else a free one,
  // else that of the least recently used idle slot (closed first). Throws what the factory
  // throws, or PoolClosedError if Release ran meanwhile.
  Slot* CreateUnlocked(Lock& lock, Slot* replaced);
  Slot* NewSlot(void* object);
  // Runs the closer and frees the slot; false if the closer threw. No bookkeeping.
  bool CloseObject(Slot* slot) noexcept;
  // Closes a slot that ForgetLocked took off the books, then frees its place under max_cap (and
  // the core itself, if it was abandoned and this was the last slot out).
  void CloseSlot(Slot* slot) noexcept;
  // True (and the closed_* counter in `reason`) when `slot` must not be handed out any more.
  // Reads only `slot` and the options: needs the lock only if another thread may touch `slot`.
  bool Expired(const Slot& slot, Clock::time_point coarse_now,
               std::uint64_t PoolStats::** reason) const;
  // Whether the take-out pinger must run for `slot` (outside ping_skip_window).
  bool PingDue(const Slot& slot, Clock::time_point coarse_now) const;
  // Counts `slot` leaving `open` for `reason`; it stays counted in `closing` (and so under
  // max_cap) until the caller, after unlocking, has closed it with CloseSlot.
  void ForgetLocked(Slot* slot, std::uint64_t PoolStats::*reason);
  // Puts a returned, checked or refilled slot where it belongs: to a starving waiter, on the idle
  // stack, or (over max_idle) out: returns the slot to close, or nullptr. `unused`: the slot was
  // never lent, so even a GetFresh waiter may have it as it is (others replace it).
  Slot* ShelveLocked(Slot* slot, bool unused);
  // For a Put of a good slot: whether a waiter is due (and a young one waits, whose bound will
  // come), and this thread's turn (since its last wait here ended) has lasted less than
  // kTurnBound and kept fewer than kTurn - 1 slots, so that it keeps this one
  // on the idle stack for its next Get instead of handing it to the oldest waiter. Counts the Put
  // in the calling thread's turn either way.
  bool ReturnerKeepsTurnLocked();
  // How many more objects may be created: max_cap - (open + creating + closing).
  std::size_t RoomLocked() const;
  // Whether another object may be created.
  bool HasRoomLocked() const { return RoomLocked() > 0; }
  // After `freed` objects (idle, or room under max_cap) became free: wakes due waiters, oldest
  // first, until as many are woken as objects are free to serve them, then up to `freed` young
  // waiters.
  void WakeWaiterIfUsefulLocked(std::size_t freed = 1);
  // Queues `waiter`'s notification for when the lock is released (see Lock).
  void NotifyAfterUnlockLocked(Waiter* waiter);
  // Objects a waiter could have now: idle ones plus the room under max_cap.
  std::size_t FreeLocked() const;
  // A Waiter record for a Get that has to wait (reused, see pool_state.h; EndWaitLocked gives
  // it back).
  Waiter* NewWaiterLocked();
  // Whether the core may be freed now: abandoned, and nothing lent, created, closed, or notified
  // (nor about to be).
  bool FreeableLocked() const;
  void EnqueueLocked(Waiter* waiter, bool at_front);
  // How long a waiter that queues now waits before it is due: hand_off_after, or kHoldsBeforeDue
  // mean holds if that is longer, but at most kMaxDueStretch x hand_off_after (pool_core.cc).
  Clock::duration DueAfterLocked() const;
  // A young waiter has waited DueAfterLocked(): from now on it waits on its own condition
  // variable, and Puts hand it slots.
  void BecomeDueLocked(Waiter* waiter);
  void DequeueLocked(Waiter* waiter);
  // Takes `waiter` off the queue, counts its wait, and gives its record back for reuse. Called by
  // the waiting thread itself, whose turn (ReturnerKeepsTurnLocked) starts anew then.
  void EndWaitLocked(Waiter* waiter);

  // Background upkeep (upkeep.cc).
  bool NeedsUpkeep() const;
  std::chrono::milliseconds UpkeepTick() const;
  void UpkeepLoop();
  void UpkeepOnce(Lock& lock);

  const PoolOptions options_;
  // options_' durations in the clock's unit, capped at kForever (durations.h) so that adding one
  // to a time point never overflows.
  const Clock::duration idle_timeout_;
  const Clock::duration max_lifetime_;
  const Clock::duration keepalive_interval_;
  const Clock::duration ping_skip_window_;
  const Clock::duration hand_off_after_;
  const Clock::duration max_due_after_;  // hand_off_after_ x kMaxDueStretch, capped
  const std::unique_ptr<ObjectHooks> hooks_;
  const bool take_out_check_;
  // Whether Acquire/Return need a clock reading at all (timeouts, checks or upkeep are on).
  const bool needs_time_;
  // Whether Put parks slots for their thread: only when max_idle == max_cap (parked slots are
  // idle ones the lock does not count). With min_idle, parking is also blocked while there is
  // room to create (RefreshParkingLocked): a take-out of a parked slot cannot ask for a refill.
  const bool parking_;
  const std::unique_ptr<ParkingSpot[]> spots_;  // lock-free; kSpots of them, none unless parking_
  const std::unique_ptr<Metrics> metrics_;      // lock-free; null unless metrics_name is set
  const Clock::duration leak_threshold_;        // 0: leak detection off
  // Whether a lent slot is stamped with the time it was lent (metrics or leak detection on).
  const bool tracking_;

  std::unique_ptr<State> state_;  // guarded by mu_ (the pointer itself never changes)
  std::thread upkeep_;            // started by the constructor, joined by Release

  // On a cache line of its own: every Get and Put writes it, and sharing a line with the fields
  // above would make each lock evict them from the other CPUs that read them.
  alignas(64) mutable std::mutex mu_;
  // Set (under mu_) while the pool is closed or a Get waits, so that Puts go through the lock,
  // where a waiter is served. Read without the lock by the fast path; its own line, rarely written.
  alignas(64) std::atomic<bool> parking_blocked_{false};

  // Last: ended first, so that no Render reads a core being torn down. Reset by Abandon.
  MetricsRegistry::Registration registration_;
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_INTERNAL_POOL_CORE_H_
