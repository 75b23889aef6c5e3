// The pool engine, in the manner of Go's database/sql: one mutex guards one State; functions that
// need it held end in Locked; the user's factory, closer and pingers run with it released.
//
// Hot path (a thread Gets, calls, Puts, and Gets again): no lock. Put parks the slot in the
// calling thread's ParkingSpot (one compare-and-swap on a cache line no other thread writes), and
// the thread's next Get takes it back from there (one more), so threads on their own connections
// share no written memory at all, and each keeps its connection, and with it the server's thread
// for that connection on the caller's CPU (handing threads each other's connections made every
// call pay a cross-CPU wake-up: bench/e2e, 2 threads on 2 vCPUs, about 10x slower). A parked slot
// counts as idle everywhere (Stats, max_idle, expiry), but State does not list it: a Get that
// finds its spot empty and nothing on the idle stack sweeps the other spots (before it creates
// or waits), as do the upkeep and Release. Waiters are never passed over: while one waits,
// parking_blocked_ sends every Put through the lock, and a returner re-reads it after parking (the
// waiter sets it before sweeping), so one of the two always sees the other.
// The cost is fairness over short windows, for a reason not found: contention_bench, 64 / 16 /
// 20, 98 paired 1 s rounds, the threads' cycle counts 14% more spread than the hand-written
// pool's (whose spread is set by how often glibc's pthread_cond_signal blocks each returner,
// below), fairness 0.024 lower, for 6% throughput over the lock path (docs/contention.md).
// Parking is off when max_idle < max_cap, and blocked while min_idle > 0 and the pool has room to
// create: a take-out there may have to ask the upkeep for a refill, which a lock-free one cannot.
// At max_cap no refill can be made, so a min_idle pool parks there (until 2026-12-06 min_idle
// turned parking off altogether: contention_bench's locked rows at 64 / 16 ran at 0.95x the
// hand-written pool, now as the parked ones, docs/contention.md). Without parking, Acquire locks,
// pops the most recently returned slot (or, among the few most recent, the one this thread
// returned last), and unlocks; Return locks, pushes it back, unlocks.
// Either way: no allocation (the idle vector is reserved for max_cap, a Waiter exists only once a
// Get has to wait), no logging (but one line when a lease reported as a leak ends), no
// std::function call unless a pinger is set, and at most one clock reading on each side, of the
// coarse clock, and none at all when no timeout, check, upkeep, metrics or leak detection needs
// one. The pinger is skipped for a slot returned within ping_skip_window. Metrics and leak
// detection (Lend, Unlend) add per-thread shard records and, for leak detection, one atomic
// exchange on Put; nothing when off.
//
// Contention (issue 13, docs/contention.md). A Get that finds nothing free queues a Waiter.
// Young waiters (waiting less than PoolOptions::hand_off_after, or 7 holds: below) share one
// condition variable, State::young_cv, which a Put notifies once per freed slot after unlocking,
// and push the slot back to the idle stack: running threads may take it first, so throughput does
// not collapse into a context switch per Get, as with the one condition variable of the pool users
// write by hand (glibc's pthread_cond_signal also serves waiters woken earlier before later ones).
// A waiter past that bound is due: it waits on its own condition variable, and Puts hand it slots,
// oldest first, so no waiter is passed over for long (the policy of Go's sync.Mutex). Whatever
// frees capacity (a Discard, a failed create, a closed expired slot) wakes a waiter the same way.
// No Put waits for the waiter it wakes: the pool before 2026-12-04 made a Put yield until the
// waiter it woke ran, which on a machine whose CPUs other processes keep busy gave the CPU away
// for a time slice per Put (contention_bench --cpu_hogs=2: 0.12-0.34x the hand-written pool's
// throughput). Glibc (2.36) still makes a Put that notifies young_cv wait, when it starts a new
// group of waiters, until the young waiters woken before have run (guarantees_test holds one for
// 300 ms, and the Put waits as long), as in the hand-written pool. That wait paces the
// returners so that woken waiters find the slots: at 64 / 16 / 20 both pools spend most of each
// thread's time in it, and builds without it ran at 0.40-0.72x (young waiters each on a condition
// variable of its own; returners that had just waited in glibc leaving the next notifies to
// others: docs/contention.md). A due waiter's own condition variable has no other waiter, so a
// hand-off never waits, and with hand_off_after 0 no Put does (contention_bench
// --variants=strict: 0.50x the hand-written pool's throughput at 64 / 16 / 20, 0.83-0.90x
// saturated).
// Once a waiter is due, strict hand-off would cost one wake-up, and the returner one context
// switch, per Get (0.66-0.77x the hand-written pool at 512 threads on 4). So while a waiter is
// due, a returning thread keeps its slot for the running threads, taking it back at its next
// Get, for up to kTurn Gets in a row before its Put hands the slot to the oldest waiter, and
// only while a younger waiter waits, whose bound collects a slot its returner does not come back
// for (ReturnerKeepsTurnLocked): one wake-up per turn, not per Get, and a bound counted in turns,
// which adapts to the queue as the issue asks, as a FIFO queue's wait grows with it (threads per
// slot x kTurn holds). Where threads queue for slots (16 threads on 4), waiters soon become due
// and the pool settles into turns: 1.5-1.9 context switches per cycle against the hand-written
// pool's 2.7, whose woken waiters often find the slot taken back (2026-12-05, 1.06-1.20x its
// throughput). Where they queue for CPUs instead (contention_bench's 64 on 16), waits rarely
// reach hand_off_after and the shared condition variable serves them as before (end to end they
// do reach it: below). Turns were first kept to saturated pools (max_cap due waiters): then
// 16 on 4 sat at 0.81-0.93x. A turn also ends kTurnBound
// after the wait that began it, so that only short holds, where a wake-up costs about as much
// as the hold, are kept: a waiter is passed over for about one hold more, not kTurn - 1 holds of
// 50 ms (waiters with a 100 ms timeout timed out in turn). A bound in time did not: 2 or 5 ms
// left 512 threads on 4 at 0.66-0.69x, and one set to a multiple of the FIFO wait reached 0.81x
// at a fairness of 0.24 (threads that kept a slot kept it for the whole bound). Waiter records
// are owned by the core and reused (pool_state.h), so a notifier may touch one after unlocking.
//
// hand_off_after, 0.5 ms by default. Without turns (the model, bench/micro/
// bounded_barging_pool.h, 2026-12-04) 400 us cost 64 / 16 / 50 a wait p99 of 0.71 ms and 1 ms
// was needed; with turns whenever a waiter is due (2026-12-05) 0.5 ms is what lets a pool where
// threads queue for objects (16 / 4 / 20) settle into turns: 1.06-1.20x the hand-written pool's
// throughput, where 1 ms (its waiters rarely reach it) left it at 0.89-1.00x, 5 ms at
// 0.97-1.00x, and 250 us made more of 64 / 16 / 50's rare waits due (0.89-0.93x).
// Where threads queue for the CPUs as well (bench/e2e: 64 client threads on 16 connections, the
// server on the same 2 vCPUs), waits pass 0.5 ms by queueing alone; the hand-offs and turns that
// follow keep a third of the Gets waiting, and each wait costs a sleep and a wake-up on CPUs that
// have none to spare: 0.70-0.77x the hand-written pool's throughput, where 5 ms gave 1.00x at its
// p99. No rule counting returns or barges told the two kinds apart, nor did the mean wait or the
// delay before a handed slot is picked up (docs/contention.md). The hold does, by what the
// hand-offs do to it: on CPUs kept busy by wake-ups every call takes longer (end to end 250 us
// a hold while barging, 380 us in the convoy), while a hold that waits for a timer or a backend
// elsewhere does not (16 / 4 / 20: 76 us). So a waiter is due after kHoldsBeforeDue mean holds
// if that is longer than hand_off_after (DueAfterLocked): 16 / 4 / 20 keeps its 0.5 ms (7 holds
// are 0.53 ms), while the convoy lengthens its own bound to 2.6 ms and ends (1.7 ms then holds
// it off: 0.99-1.01x the hand-written pool end to end, at its p99). A fixed 2 ms did not: the
// pool stayed in the convoy in some runs (0.83x [0.67-1.13]). 10 holds (0.76 ms) cost
// 16 / 4 / 20 its turns (0.93-0.99x). The stretch is capped at kMaxDueStretch x hand_off_after
// (5 ms by default), so a pool of 50 ms calls still hands off within 5 ms, and hand_off_after 0
// stays strict FIFO. Holds are timed only for take-outs under contention (two precise clock
// readings, under the lock that such a Get and Put take anyway).
#include <thriftpool/internal/coarse_clock.h>
#include <thriftpool/internal/pool_core.h>
#include <thriftpool/pool_errors.h>

#include <algorithm>
#include <cassert>
#include <random>
#include <string>
#include <utility>

#include "durations.h"
#include "pool_state.h"
#include "thread_number.h"

namespace thriftpool {
namespace internal {
namespace {

// While a waiter is due, how many Gets in a row a running thread may serve from its own returns
// (ReturnerKeepsTurnLocked). contention_bench, saturated rows (64 / 4 / 20, 256 / 8 / 100,
// 512 / 4 / 20), 2026-12-04: with 1 (strict hand-off) 0.66-0.77x the hand-written pool's
// throughput; with 3 0.94-1.01x at a wait p99 of 0.32-0.34x its; with 4 0.98-1.08x at
// 0.38-0.42x (the target is 0.5x at most: 3 leaves a margin for noise).
constexpr unsigned kTurn = 3;

// A turn also ends this long after the wait that began it, so that only short holds, where a
// wake-up costs about as much as the hold, are kept. 0.5 ms (hand_off_after's default) cut
// 512 / 4 / 20 from 0.98-1.31x to 0.92-1.03x and 64 / 4 / 20 from 1.00-1.10x to 0.96-1.02x
// (2026-12-05).
constexpr std::chrono::milliseconds kTurnBound{1};

// A waiter is due after hand_off_after, or after this many mean holds if that is longer
// (DueAfterLocked), but never after more than kMaxDueStretch x hand_off_after. Where threads
// queue for the CPUs as well as for slots, hand-offs lengthen every hold, so the bound grows
// until the queue stops becoming due by queueing alone ("hand_off_after" above).
constexpr int kHoldsBeforeDue = 7;
constexpr int kMaxDueStretch = 10;

// The calling thread's turn: when its last wait in `pool` ended, and how many of its Puts since
// kept their slot while due waiters waited. One per thread, for the pool it last waited in or
// returned to: a thread that alternates between contended pools starts a new turn at each, and
// one that never waited in a pool has no turn there, which only hands slots off sooner.
struct Turn {
  const void* pool;
  unsigned kept;
  Clock::time_point began;
};
thread_local Turn this_thread_turn{nullptr, 0, Clock::time_point()};

// How many of the most recently returned idle slots a Get searches for its own thread's last one.
constexpr std::size_t kAffinityScan = 8;

// Parking spots per pool (4 KiB); a thread's is its ThisThreadNumber() modulo kSpots. Sized for
// threads, not objects: threads whose numbers collide share a spot, take each other's parked
// slots and send their own through the lock. With one spot per object (as it was), pool_bench's
// 16 threads on max_cap 2 shared 2 spots and ran at 0.50-0.62 of 2 threads' throughput; with 16
// or 64 spots at 0.95-1.03 (contention_bench's rows, where waiters keep parking off, did not
// move). Thread numbers are process-wide, so a pool's few threads may hold any numbers: 64
// spread them further than 16; beyond 64 threads collisions are correct, just less often fast.
constexpr std::size_t kSpots = 64;
static_assert((kSpots & (kSpots - 1)) == 0, "SpotOf masks with kSpots - 1");
// Marks a spot whose returner has parked but not yet re-read parking_blocked_.
constexpr std::uintptr_t kParkingBit = 1;

std::string TimeoutMessage(std::chrono::milliseconds wait, std::size_t max_cap) {
  return "thriftpool: no connection free within " + std::to_string(wait.count()) + " ms (all " +
         std::to_string(max_cap) + " of max_cap in use)";
}

}  // namespace

CoarseClock::Setup CoarseClock::Probe() {
  timespec res;
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0) return {};
  const std::chrono::nanoseconds resolution =
      std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec);
  if (resolution > kMaxResolution) return {};
  return {true, resolution + kLagMargin};
}

const CoarseClock::Setup CoarseClock::setup_ = CoarseClock::Probe();

PoolCore::PoolCore(const PoolOptions& options, std::unique_ptr<ObjectHooks> hooks)
    : options_(options),
      idle_timeout_(Capped(options.idle_timeout)),
      max_lifetime_(Capped(options.max_lifetime)),
      keepalive_interval_(Capped(options.keepalive_interval)),
      ping_skip_window_(Capped(options.ping_skip_window)),
      hand_off_after_(Capped(options.hand_off_after)),
      // In double: microseconds::max() x 10 would overflow.
      max_due_after_(Capped(std::chrono::duration<double, std::micro>(options.hand_off_after) *
                            kMaxDueStretch)),
      hooks_(std::move(hooks)),
      take_out_check_(hooks_->HasTakeOutCheck()),
      needs_time_(options.idle_timeout.count() > 0 || options.max_lifetime.count() > 0 ||
                  options.keepalive_interval.count() > 0 ||
                  (take_out_check_ && options.ping_skip_window.count() > 0)),
      parking_(options.max_idle == options.max_cap),
      spots_(parking_ ? std::make_unique<ParkingSpot[]>(kSpots) : nullptr),
      metrics_(options.metrics_name.empty() ? nullptr : std::make_unique<Metrics>()),
      leak_threshold_(Capped(options.leak_detection_threshold)),
      tracking_(metrics_ != nullptr || leak_threshold_.count() > 0),
      state_(std::make_unique<State>()) {
  state_->idle.reserve(options_.max_cap);
  if (leak_threshold_.count() > 0) state_->slots.reserve(options_.max_cap);
  if (metrics_ != nullptr) {
    // First, so that a name taken already fails before any connect. A Render may read this core
    // from now on: everything it reads exists.
    MetricsRegistry& registry = options_.metrics_registry != nullptr ? *options_.metrics_registry
                                                                     : MetricsRegistry::Default();
    registration_ = registry.RegisterPool(options_.metrics_name, options_.metrics_endpoint,
                                          [this](PoolMetrics* m) { CollectMetrics(m); });
  }
  try {
    for (std::size_t i = 0; i < options_.initial_cap; ++i) {
      Slot* slot = NewSlot(CreateObject());
      std::lock_guard<std::mutex> lock(mu_);
      AdmitLocked(slot);
      state_->idle.push_back(slot);
    }
  } catch (...) {
    for (Slot* slot : state_->idle) CloseObject(slot);
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    RefreshParkingLocked();  // min_idle with room left: a take-out may need a refill
  }
  if (NeedsUpkeep()) upkeep_ = std::thread([this] { UpkeepLoop(); });
}

Slot* PoolCore::NewSlot(void* object) {
  thread_local std::minstd_rand rng(std::random_device{}());
  auto* slot = new Slot;
  slot->object = object;
  slot->created_at = Clock::now();
  slot->checked_at = slot->returned_at = CoarseClock::Now();
  if (max_lifetime_.count() > 0) {
    std::uniform_real_distribution<double> cut(0.0, options_.lifetime_jitter);
    const auto lifetime =
        std::chrono::duration_cast<Clock::duration>(max_lifetime_ * (1.0 - cut(rng)));
    slot->expires_at = slot->created_at + lifetime;
  } else {
    slot->expires_at = Clock::time_point::max();
  }
  return slot;
}

void* PoolCore::CreateObject() {
  if (metrics_ == nullptr) return hooks_->Create();
  const Clock::time_point start = Clock::now();
  void* object = hooks_->Create();
  metrics_->Observe(ThisThreadNumber(), kConnectTime, Clock::now() - start);
  return object;
}

void PoolCore::AdmitLocked(Slot* slot) {
  State& st = *state_;
  ++st.open;
  ++st.counters.created;
  if (leak_threshold_.count() > 0) {
    slot->index = st.slots.size();
    st.slots.push_back(slot);
  }
}

bool PoolCore::CloseObject(Slot* slot) noexcept {
  const bool ok = hooks_->Close(slot->object);
  delete slot;
  return ok;
}

void PoolCore::CloseSlot(Slot* slot) noexcept {
  const bool ok = CloseObject(slot);
  Lock lock(*this);
  State& st = *state_;
  --st.closing;
  if (!ok) ++st.counters.close_errors;
  RefreshParkingLocked();
  WakeWaiterIfUsefulLocked();
  RequestRefillIfUsefulLocked();
  const bool free_core = FreeableLocked();
  lock.unlock();
  if (free_core) delete this;
}

bool PoolCore::Expired(const Slot& slot, Clock::time_point coarse_now,
                       std::uint64_t PoolStats::** reason) const {
  const Clock::time_point late_now = coarse_now + CoarseClock::Slack();
  if (late_now >= slot.expires_at) {
    *reason = &PoolStats::closed_max_lifetime;
    return true;
  }
  if (idle_timeout_.count() > 0 && late_now - slot.returned_at >= idle_timeout_) {
    *reason = &PoolStats::closed_idle_timeout;
    return true;
  }
  return false;
}

bool PoolCore::PingDue(const Slot& slot, Clock::time_point coarse_now) const {
  return take_out_check_ &&
         (ping_skip_window_.count() == 0 ||
          coarse_now + CoarseClock::Slack() - slot.checked_at >= ping_skip_window_);
}

void PoolCore::PingAndRecheck(const Slot& slot, Clock::time_point* started,
                              std::uint64_t PoolStats::** reason) const {
  if (*started == kNotStarted) *started = Clock::now();
  if (!hooks_->CheckOnTakeOut(slot.object)) {
    *reason = &PoolStats::closed_broken;
  } else if (needs_time_) {
    Expired(slot, CoarseClock::Now(), reason);  // sets `reason` if the pinger took it past a limit
  }
}

void PoolCore::ForgetLocked(Slot* slot, std::uint64_t PoolStats::*reason) {
  State& st = *state_;
  --st.open;
  ++st.closing;
  ++st.counters.closed;
  ++(st.counters.*reason);
  if (leak_threshold_.count() > 0) {
    Slot* last = st.slots.back();
    last->index = slot->index;
    st.slots[slot->index] = last;
    st.slots.pop_back();
  }
}

std::size_t PoolCore::RoomLocked() const {
  const State& st = *state_;
  const std::size_t used = st.open + st.creating + st.closing;
  return used < options_.max_cap ? options_.max_cap - used : 0;
}

std::size_t PoolCore::FreeLocked() const { return state_->idle.size() + RoomLocked(); }

void PoolCore::WakeWaiterIfUsefulLocked(std::size_t freed) {
  State& st = *state_;
  if (st.head == nullptr) return;
  const std::size_t free = FreeLocked();
  // Due waiters first, oldest first, each on its own condition variable.
  for (Waiter* w = st.head; w != nullptr && w->due && st.woken < free; w = w->next) {
    if (w->woken) continue;
    w->woken = true;
    ++st.woken;
    NotifyAfterUnlockLocked(w);
  }
  // Then as many young ones as objects were freed, through their shared one (glibc picks which),
  // as a hand-written pool notifies once per Put. Not once per free object: young waiters woken
  // earlier are not counted, and more notifications than that made each Put wait in
  // pthread_cond_signal for the waiters it had woken before (contention_bench, 16 threads on
  // max_cap 4: Put 220 us on average against 22 us).
  for (std::size_t i = 0;
       i < freed && st.young_to_notify < st.young && st.woken + st.young_to_notify < free; ++i) {
    ++st.young_to_notify;
  }
}

void PoolCore::NotifyAfterUnlockLocked(Waiter* waiter) {
  State& st = *state_;
  if (waiter->notify_listed) return;
  if (st.to_notify_count == State::kMaxToNotify) {
    waiter->cv.notify_one();  // rare: more wake-ups in one locked step than the list holds
    return;
  }
  waiter->notify_listed = true;
  st.to_notify[st.to_notify_count++] = waiter;
}

PoolCore::Waiter* PoolCore::NewWaiterLocked() {
  State& st = *state_;
  Waiter* waiter;
  if (st.free_waiters.empty()) {
    waiter = &st.waiters.emplace_back();
  } else {
    waiter = st.free_waiters.back();
    st.free_waiters.pop_back();
  }
  waiter->handed = nullptr;
  waiter->handed_unused = false;
  waiter->due = false;
  return waiter;
}

bool PoolCore::FreeableLocked() const {
  const State& st = *state_;
  // Notifications still queued make the Lock::unlock that sends them a notifier, which then
  // decides in turn: exactly one of the two frees the core.
  return st.abandoned && st.out == 0 && st.creating == 0 && st.closing == 0 && st.notifiers == 0 &&
         st.to_notify_count == 0 && st.young_to_notify == 0;
}

void PoolCore::EnqueueLocked(Waiter* waiter, bool at_front) {
  State& st = *state_;
  if (at_front) {
    waiter->next = st.head;
    (st.head ? st.head->prev : st.tail) = waiter;
    st.head = waiter;
  } else {
    waiter->prev = st.tail;
    (st.tail ? st.tail->next : st.head) = waiter;
    st.tail = waiter;
  }
  waiter->queued = true;
  ++st.waiting;
  if (!waiter->due) ++st.young;
}

void PoolCore::DequeueLocked(Waiter* waiter) {
  State& st = *state_;
  if (!waiter->queued) return;
  (waiter->prev ? waiter->prev->next : st.head) = waiter->next;
  (waiter->next ? waiter->next->prev : st.tail) = waiter->prev;
  waiter->prev = waiter->next = nullptr;
  waiter->queued = false;
  --st.waiting;
  if (!waiter->due) --st.young;
  RefreshParkingLocked();
  if (waiter->woken) {
    // Pass the wake-up on: whatever it was for may still be there for the next waiter.
    waiter->woken = false;
    --st.woken;
    WakeWaiterIfUsefulLocked();
  }
}

void PoolCore::EndWaitLocked(Waiter* waiter) {
  DequeueLocked(waiter);
  const Clock::time_point now = Clock::now();
  this_thread_turn = {this, 0, now};
  const auto waited = std::chrono::duration_cast<std::chrono::nanoseconds>(now - waiter->since);
  PoolStats& c = state_->counters;
  c.wait_duration += waited;
  c.max_wait_duration = std::max(c.max_wait_duration, waited);
  state_->free_waiters.push_back(waiter);
}

Slot* PoolCore::ShelveLocked(Slot* slot, bool unused) {
  State& st = *state_;
  if (st.head != nullptr && st.head->due) {
    Waiter* oldest = st.head;
    DequeueLocked(oldest);
    oldest->handed = slot;
    oldest->handed_unused = unused;
    ++st.out;
    NotifyAfterUnlockLocked(oldest);
    return nullptr;
  }
  if (st.idle.size() >= options_.max_idle) {
    ForgetLocked(slot, &PoolStats::closed_max_idle);
    return slot;
  }
  st.idle.push_back(slot);
  WakeWaiterIfUsefulLocked();
  return nullptr;
}

ParkingSpot& PoolCore::SpotOf(std::size_t thread_number) const {
  return spots_[thread_number & (kSpots - 1)];
}

Slot* PoolCore::TryParked(Clock::time_point* started, Clock::time_point* coarse_now) {
  std::atomic<std::uintptr_t>& spot = SpotOf(ThisThreadNumber()).slot;
  std::uintptr_t parked = spot.load(std::memory_order_relaxed);
  // A set kParkingBit belongs to another thread on this spot, mid-Put: not ours to take.
  if (parked == 0 || (parked & kParkingBit) != 0 ||
      !spot.compare_exchange_strong(parked, 0, std::memory_order_acquire)) {
    return nullptr;
  }
  Slot* slot = reinterpret_cast<Slot*>(parked);
  const Clock::time_point now = needs_time_ ? CoarseClock::Now() : Clock::time_point();
  *coarse_now = now;
  std::uint64_t PoolStats::*reason = nullptr;
  if (needs_time_ && Expired(*slot, now, &reason)) {
    // `reason` says which limit it passed.
  } else if (PingDue(*slot, now)) {
    PingAndRecheck(*slot, started, &reason);
  }
  if (reason == nullptr && !parking_blocked_.load(std::memory_order_acquire)) return slot;
  Lock lock(*this);
  State& st = *state_;
  if (reason == nullptr) {
    // Blocked by a waiter (this running thread may go first, as in AcquireSlow), by room for a
    // refill (RefreshParkingLocked), or by Release.
    if (!st.closed) return slot;
    reason = &PoolStats::closed_on_release;
  }
  --st.out;
  ForgetLocked(slot, reason);
  lock.unlock();
  CloseSlot(slot);
  return nullptr;
}

bool PoolCore::TryPark(Slot* slot, Clock::time_point now) {
  if (parking_blocked_.load(std::memory_order_relaxed)) return false;
  slot->returned_at = slot->checked_at = now;
  slot->returned_by = ThisThreadNumber();
  slot->taken_at = Clock::time_point();  // taken under the lock, returned without: no hold
  std::atomic<std::uintptr_t>& spot = SpotOf(slot->returned_by).slot;
  const std::uintptr_t parked = reinterpret_cast<std::uintptr_t>(slot);
  std::uintptr_t empty = 0;
  if (!spot.compare_exchange_strong(empty, parked | kParkingBit, std::memory_order_seq_cst)) {
    return false;
  }
  // A Get that is about to wait sets parking_blocked_ and then sweeps the spots: either it sees
  // this slot (and waits for the bit to clear), or this load sees its flag (both seq_cst).
  if (parking_blocked_.load(std::memory_order_seq_cst)) {
    spot.store(0, std::memory_order_release);
    return false;
  }
  // From here on the slot, and the pool, may be gone: touch nothing else.
  spot.store(parked, std::memory_order_release);
  return true;
}

std::size_t PoolCore::SweepParkedLocked(bool complete) {
  State& st = *state_;
  std::size_t moved = 0;
  for (std::size_t i = 0; i < kSpots; ++i) {
    std::atomic<std::uintptr_t>& spot = spots_[i].slot;
    // seq_cst: the other half of TryPark's store-then-load handshake on parking_blocked_.
    std::uintptr_t parked = spot.load(std::memory_order_seq_cst);
    // A returner between its two steps in TryPark runs a few instructions unless it is
    // preempted; it needs no lock to finish, so waiting for it with the lock held is safe.
    while (complete && (parked & kParkingBit) != 0) {
      std::this_thread::yield();
      parked = spot.load(std::memory_order_acquire);
    }
    if (parked == 0 || (parked & kParkingBit) != 0) continue;
    if (!spot.compare_exchange_strong(parked, 0, std::memory_order_acquire)) continue;
    --st.out;
    st.idle.push_back(reinterpret_cast<Slot*>(parked));
    ++moved;
  }
  if (moved > 0) WakeWaiterIfUsefulLocked(moved);
  return moved;
}

std::size_t PoolCore::ParkedCountLocked() const {
  if (!parking_) return 0;
  std::size_t parked = 0;
  for (std::size_t i = 0; i < kSpots; ++i) {
    if ((spots_[i].slot.load(std::memory_order_relaxed) & ~kParkingBit) != 0) ++parked;
  }
  // Slots move between spots while this counts: never report more than are out.
  return std::min(parked, state_->out);
}

void PoolCore::RefreshParkingLocked() {
  if (!parking_) return;
  State& st = *state_;
  const bool blocked = st.closed || st.waiting > 0 || (options_.min_idle > 0 && HasRoomLocked());
  if (parking_blocked_.load(std::memory_order_relaxed) != blocked) {
    parking_blocked_.store(blocked, std::memory_order_seq_cst);
    if (!blocked) st.spots_clear = false;
  }
}

Slot* PoolCore::Acquire(std::chrono::milliseconds wait, AcquireMode mode, const char* file,
                        int line) {
  Clock::time_point started = kNotStarted;
  Clock::time_point coarse_now;
  Slot* slot = Take(wait, mode, &started, &coarse_now);
  if (tracking_) Lend(slot, started, coarse_now, file, line);
  return slot;
}

Slot* PoolCore::Take(std::chrono::milliseconds wait, AcquireMode mode, Clock::time_point* started,
                     Clock::time_point* coarse_now) {
  if (parking_ && mode == AcquireMode::kAny) {
    if (Slot* slot = TryParked(started, coarse_now)) return slot;
  }
  Lock lock(*this);
  const State& st = *state_;
  if (mode == AcquireMode::kAny && !st.closed && !st.idle.empty()) {
    if (Slot* slot = CheckOutLocked(lock, PopIdleLocked(), nullptr, started)) return slot;
  }
  return AcquireSlow(lock, wait, mode, started);
}

void PoolCore::Lend(Slot* slot, Clock::time_point started, Clock::time_point coarse_now,
                    const char* file, int line) noexcept {
  // A Get that neither waited, nor created, nor ran a pinger took a few dozen nanoseconds: its
  // acquire time counts as 0 s (below the first bucket's bound) rather than paying two precise
  // clock readings, and the lease's start is the coarse time the Get may have read already.
  Clock::time_point now;
  if (started != kNotStarted) {
    now = Clock::now();
  } else {
    now = coarse_now != Clock::time_point() ? coarse_now : CoarseClock::Now();
  }
  if (leak_threshold_.count() > 0) {
    slot->taken_file.store(file, std::memory_order_relaxed);
    slot->taken_line.store(line, std::memory_order_relaxed);
  }
  // Release: the upkeep reads lent_at (acquire) before where it was taken.
  slot->lent_at.store(now.time_since_epoch().count() & ~kLeakReported, std::memory_order_release);
  if (metrics_ != nullptr) {
    if (started == kNotStarted) {
      metrics_->ObserveZero(ThisThreadNumber(), kAcquireTime);
    } else {
      metrics_->Observe(ThisThreadNumber(), kAcquireTime, now - started);
    }
  }
}

void PoolCore::Unlend(Slot* slot, Clock::time_point now) noexcept {
  std::int64_t lent;
  if (leak_threshold_.count() > 0) {
    // Atomically with the upkeep's mark (a compare-and-swap on the same word): either it marked
    // this lease before it ended, and this logs its end, or it sees 0 and reports nothing.
    lent = slot->lent_at.exchange(0, std::memory_order_acq_rel);
    if ((lent & kLeakReported) != 0) {
      const Clock::duration held = now.time_since_epoch() - Clock::duration(lent & ~kLeakReported);
      LogLeak({slot->taken_file.load(std::memory_order_relaxed),
               slot->taken_line.load(std::memory_order_relaxed), held},
              /*came_back=*/true);
    }
  } else {
    lent = slot->lent_at.load(std::memory_order_relaxed);
  }
  if (metrics_ != nullptr) {
    metrics_->Observe(ThisThreadNumber(), kUsageTime,
                      now.time_since_epoch() - Clock::duration(lent & ~kLeakReported));
  }
}

Slot* PoolCore::PopIdleLocked() {
  State& st = *state_;
  // A thread that gets back the connection it returned last also keeps the server's thread for
  // that connection, and the scheduler then tends to run the two on one CPU, as with a dedicated
  // connection. Handing threads each other's connections instead made every call pay a cross-CPU
  // wake-up (bench/e2e, 2 threads on 2 vCPUs: about 10x slower than one connection per thread).
  const std::size_t me = ThisThreadNumber();
  const std::size_t count = st.idle.size();
  if (st.idle.back()->returned_by != me) {
    for (std::size_t depth = 2; depth <= std::min(count, kAffinityScan); ++depth) {
      Slot*& candidate = st.idle[count - depth];
      if (candidate->returned_by == me) {
        std::swap(candidate, st.idle.back());
        break;
      }
    }
  }
  Slot* slot = st.idle.back();
  st.idle.pop_back();
  ++st.out;
  RequestRefillIfUsefulLocked();
  return slot;
}

void PoolCore::RequestRefillIfUsefulLocked() {
  State& st = *state_;
  // Without room the upkeep could create nothing: waking it on every take-out at max_cap cost a
  // context switch per Get under contention (contention_bench, locked rows). A close that makes
  // room asks again (CloseSlot).
  if (options_.min_idle > 0 && !st.closed && st.idle.size() < options_.min_idle &&
      !st.refill_requested && HasRoomLocked()) {
    st.refill_requested = true;
    st.upkeep_cv.notify_one();
  }
}

Slot* PoolCore::CheckOutLocked(Lock& lock, Slot* slot, Waiter* waiter, Clock::time_point* started) {
  State& st = *state_;
  const Clock::time_point now = needs_time_ ? CoarseClock::Now() : Clock::time_point();
  std::uint64_t PoolStats::*reason = nullptr;
  if (st.closed) {  // a slot handed to a waiter just before Release
    reason = &PoolStats::closed_on_release;
  } else if (needs_time_ && Expired(*slot, now, &reason)) {
    // `reason` says which limit it passed.
  } else if (PingDue(*slot, now)) {
    lock.unlock();
    PingAndRecheck(*slot, started, &reason);
    lock.lock();
    if (st.closed) reason = &PoolStats::closed_on_release;
  }
  if (reason == nullptr) {
    // A hold for mean_hold, timed only under contention: nothing for the uncontended paths.
    if (waiter != nullptr || st.head != nullptr) slot->taken_at = Clock::now();
    return slot;
  }
  if (waiter != nullptr && !waiter->queued && !st.closed) EnqueueLocked(waiter, /*at_front=*/true);
  --st.out;
  ForgetLocked(slot, reason);
  lock.unlock();
  CloseSlot(slot);
  lock.lock();
  return nullptr;
}

Slot* PoolCore::AcquireSlow(Lock& lock, std::chrono::milliseconds wait, AcquireMode mode,
                            Clock::time_point* started) {
  State& st = *state_;
  Waiter* me = nullptr;  // taken only once this Get has to wait
  if (*started == kNotStarted) *started = Clock::now();
  // Capped: Get(milliseconds::max()) waits practically forever instead of overflowing.
  const Clock::time_point deadline = *started + Capped(wait);
  // Whatever way this Get ends, a waiter leaves the queue and its wait is counted.
  struct WaitEnd {
    PoolCore* core;
    Waiter*& me;
    ~WaitEnd() {
      if (me) core->EndWaitLocked(me);
      core->RefreshParkingLocked();
    }
  } wait_end{this, me};

  for (;;) {
    Slot* slot = nullptr;
    if (me && me->handed != nullptr) {
      slot = std::exchange(me->handed, nullptr);
      if (mode == AcquireMode::kFresh && !st.closed && !std::exchange(me->handed_unused, false)) {
        // A used slot: what this GetFresh waited for is its place under max_cap. (After a
        // Release, CheckOutLocked below closes the slot instead.)
        EndWaitLocked(std::exchange(me, nullptr));
        return CreateUnlocked(lock, slot);
      }
    } else if (st.closed) {
      throw PoolClosedError("thriftpool: pool released");
    } else if (!st.idle.empty() && me != nullptr && me->queued && st.head != me && st.head->due) {
      // A slot whose returner kept it for its turn (ReturnerKeepsTurnLocked) and did not come
      // back for it by this waiter's bound: it goes to the oldest waiter, not to this one.
      Slot* kept = st.idle.back();
      st.idle.pop_back();
      ShelveLocked(kept, /*unused=*/false);  // hands it over: the head is due
      continue;
    } else if (!st.idle.empty() && mode == AcquireMode::kAny) {
      slot = PopIdleLocked();
    } else if (parking_ && st.idle.empty() && (mode == AcquireMode::kAny || !HasRoomLocked()) &&
               ClaimParkedLocked()) {
      continue;  // parked slots are on the idle stack now
    } else if (!st.idle.empty() || HasRoomLocked()) {
      if (me) EndWaitLocked(std::exchange(me, nullptr));
      return CreateUnlocked(lock, nullptr);
    } else {
      // Nothing free: wait.
      const Clock::time_point now = Clock::now();
      if (!me) {
        if (wait.count() <= 0) {
          ++st.counters.wait_timeouts;
          throw PoolTimeoutError(TimeoutMessage(wait, options_.max_cap));
        }
        me = NewWaiterLocked();
        me->mode = mode;
        me->since = now;
        me->due_at = now + DueAfterLocked();
        ++st.counters.wait_count;
        EnqueueLocked(me, /*at_front=*/false);
      } else if (!me->queued) {
        // What this waiter was given failed its check: it keeps its turn (and its deadline).
        EnqueueLocked(me, /*at_front=*/true);
      }
      if (me->woken) {
        me->woken = false;
        --st.woken;
      }
      if (now >= deadline) {
        ++st.counters.wait_timeouts;
        throw PoolTimeoutError(TimeoutMessage(wait, options_.max_cap));
      }
      if (!me->due && now >= me->due_at) BecomeDueLocked(me);
      lock.Flush();
      if (me->due) {
        me->cv.wait_until(lock.raw(), deadline,
                          [&] { return me->handed != nullptr || me->woken || st.closed; });
      } else {
        // Woken by a Put (or not: glibc picks one of the young), by Release, or at the bound.
        st.young_cv.wait_until(lock.raw(), std::min(deadline, me->due_at));
      }
      continue;
    }
    // A waiter leaves the queue while it checks what it got, but keeps its deadline, and its
    // place if the check fails (CheckOutLocked); WaitEnd counts its wait once it has a slot.
    if (me) DequeueLocked(me);
    if (Slot* good = CheckOutLocked(lock, slot, me, started)) return good;
  }
}

bool PoolCore::ReturnerKeepsTurnLocked() {
  const State& st = *state_;
  Turn& turn = this_thread_turn;
  if (turn.pool != this) turn = {this, 0, Clock::time_point()};
  // A young waiter's bound (hand_off_after at most) takes the slot if this thread does not come
  // back for it: with none, the slot could sit idle while every other thread waits. The turn's
  // own time bound keeps turns to short holds ("Contention" above: with 50 ms holds, waiters
  // with a 100 ms timeout timed out in turn, tests/faults/exhaustion_test).
  const bool keeps = st.head != nullptr && st.head->due && st.young > 0 &&
                     st.idle.size() < options_.max_idle && turn.kept + 1 < kTurn &&
                     Clock::now() - turn.began < kTurnBound;
  turn.kept = keeps ? turn.kept + 1 : 0;
  return keeps;
}

Clock::duration PoolCore::DueAfterLocked() const {
  return std::clamp(state_->mean_hold * kHoldsBeforeDue, hand_off_after_, max_due_after_);
}

void PoolCore::BecomeDueLocked(Waiter* waiter) {
  State& st = *state_;
  waiter->due = true;
  if (waiter->queued) --st.young;
}

bool PoolCore::ClaimParkedLocked() {
  State& st = *state_;
  // Under contention every Get that waits comes here: two sweeps of kSpots lines each were a
  // tenth of the pool's CPU time (contention_bench, 16 / 4 / 20).
  if (st.spots_clear) return false;
  if (SweepParkedLocked(/*complete=*/false) > 0) return true;
  if (HasRoomLocked()) return false;
  // This Get may wait: from now on Puts go through the lock, and the sweep must see every slot
  // parked before that.
  parking_blocked_.store(true, std::memory_order_seq_cst);
  const bool found = SweepParkedLocked(/*complete=*/true) > 0;
  st.spots_clear = true;
  return found;
}

Slot* PoolCore::CreateUnlocked(Lock& lock, Slot* replaced) {
  State& st = *state_;
  // A replaced slot (kFresh at max_cap: the least recently used idle one, or a used one handed to
  // a kFresh waiter) makes room. Its place passes straight from `closing` to `creating`, and it is
  // closed before the factory runs, so the two never exist at once beyond max_cap.
  if (replaced != nullptr) {
    --st.out;
  } else if (!HasRoomLocked()) {
    replaced = st.idle.front();
    st.idle.erase(st.idle.begin());
  }
  if (replaced != nullptr) {
    ForgetLocked(replaced, &PoolStats::closed_replaced);
    --st.closing;
  }
  ++st.creating;
  RefreshParkingLocked();
  lock.unlock();
  const bool replaced_closed_cleanly = replaced == nullptr || CloseObject(replaced);
  void* object;
  try {
    object = CreateObject();
  } catch (...) {
    lock.lock();
    --st.creating;
    ++st.counters.create_failures;
    if (!replaced_closed_cleanly) ++st.counters.close_errors;
    RefreshParkingLocked();
    WakeWaiterIfUsefulLocked();
    throw;
  }
  Slot* slot = NewSlot(object);
  lock.lock();
  if (!replaced_closed_cleanly) ++st.counters.close_errors;
  --st.creating;
  AdmitLocked(slot);
  if (!st.closed) {
    ++st.out;
    return slot;
  }
  ForgetLocked(slot, &PoolStats::closed_on_release);
  lock.unlock();
  CloseSlot(slot);
  lock.lock();
  throw PoolClosedError("thriftpool: pool released");
}

void PoolCore::Return(Slot* slot, bool broken) noexcept {
  const Clock::time_point now = needs_time_ || tracking_ ? CoarseClock::Now() : Clock::time_point();
  if (tracking_) Unlend(slot, now);
  if (parking_ && !broken && now + CoarseClock::Slack() < slot->expires_at && TryPark(slot, now)) {
    return;
  }
  ReturnLocked(slot, broken, now);
}

void PoolCore::ReturnLocked(Slot* slot, bool broken, Clock::time_point now) noexcept {
  Lock lock(*this);
  State& st = *state_;
  --st.out;
  if (slot->taken_at != Clock::time_point()) {
    st.mean_hold +=
        (Clock::now() - std::exchange(slot->taken_at, Clock::time_point()) - st.mean_hold) / 16;
  }
  Slot* to_close = slot;
  if (st.closed) {
    ForgetLocked(slot, &PoolStats::closed_on_release);
  } else if (broken) {
    ForgetLocked(slot, &PoolStats::closed_broken);
  } else if (now + CoarseClock::Slack() >= slot->expires_at) {
    ForgetLocked(slot, &PoolStats::closed_max_lifetime);
  } else {
    slot->returned_at = slot->checked_at = now;
    slot->returned_by = ThisThreadNumber();
    if (ReturnerKeepsTurnLocked()) {
      st.idle.push_back(slot);  // for this thread's next Get; nobody is woken for it
      to_close = nullptr;
    } else {
      to_close = ShelveLocked(slot, /*unused=*/false);
    }
  }
  lock.unlock();
  if (to_close != nullptr) CloseSlot(to_close);
}

void PoolCore::Release() noexcept {
  std::vector<Slot*> idle;
  {
    Lock lock(*this);
    State& st = *state_;
    if (st.closed) return;
    st.closed = true;
    RefreshParkingLocked();
    if (parking_) SweepParkedLocked(/*complete=*/true);
    idle.swap(st.idle);
    for (Slot* slot : idle) ForgetLocked(slot, &PoolStats::closed_on_release);
    for (Waiter* w = st.head; w != nullptr; w = w->next) w->cv.notify_one();
    st.young_cv.notify_all();
    st.upkeep_cv.notify_all();
  }
  if (upkeep_.joinable()) upkeep_.join();
  for (Slot* slot : idle) CloseSlot(slot);
}

void PoolCore::UnregisterMetrics() noexcept { registration_.Reset(); }

void PoolCore::Abandon() noexcept {
  registration_.Reset();  // waits for a Render that reads this core
  Release();
  Lock lock(*this);
  state_->abandoned = true;
  const bool free_core = FreeableLocked();
  lock.unlock();
  if (free_core) delete this;
}

std::size_t PoolCore::IdleCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_->idle.size() + ParkedCountLocked();
}

void PoolCore::CollectMetrics(PoolMetrics* metrics) const {
  metrics->stats = Stats();
  metrics->acquire = metrics_->Histogram(kAcquireTime);
  metrics->usage = metrics_->Histogram(kUsageTime);
  metrics->creation = metrics_->Histogram(kConnectTime);
}

PoolStats PoolCore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  const State& st = *state_;
  PoolStats stats = st.counters;
  stats.max_cap = options_.max_cap;
  stats.open = st.open;
  const std::size_t parked = ParkedCountLocked();
  stats.idle = st.idle.size() + parked;
  stats.in_use = st.out - parked;
  stats.creating = st.creating;
  stats.closing = st.closing;
  stats.waiting = st.waiting;
  return stats;
}

}  // namespace internal
}  // namespace thriftpool
