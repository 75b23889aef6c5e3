// Background upkeep: one thread per pool that closes idle slots past idle_timeout or
// max_lifetime, checks idle slots every keepalive_interval, keeps min_idle slots ready, and
// reports leases held past leak_detection_threshold. Like every other path it holds the pool's
// lock only to move slots around, never during a factory, closer or pinger call, nor to log.
#include <glog/logging.h>
#include <thriftpool/internal/coarse_clock.h>
#include <thriftpool/internal/pool_core.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "pool_state.h"

namespace thriftpool {
namespace internal {
namespace {

constexpr std::chrono::milliseconds kMinTick{5};
constexpr std::chrono::milliseconds kMaxTick{1000};
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

}  // namespace

bool PoolCore::NeedsUpkeep() const {
  return options_.idle_timeout.count() > 0 || options_.max_lifetime.count() > 0 ||
         options_.min_idle > 0 || leak_threshold_.count() > 0 ||
         (options_.keepalive_interval.count() > 0 && hooks_->HasKeepaliveCheck());
}

std::chrono::milliseconds PoolCore::UpkeepTick() const {
  std::chrono::milliseconds tick = kMaxTick;
  for (std::chrono::milliseconds period :
       {options_.idle_timeout, options_.max_lifetime, options_.keepalive_interval,
        options_.leak_detection_threshold}) {
    if (period.count() > 0) tick = std::min(tick, period / 2);
  }
  return std::clamp(tick, kMinTick, kMaxTick);
}

void PoolCore::UpkeepLoop() {
  const std::chrono::milliseconds tick = UpkeepTick();
  Lock lock(*this);
  State& st = *state_;
  std::vector<Leak> leaks;
  while (!st.closed) {
    if (leak_threshold_.count() > 0) {
      FindLeaksLocked(CoarseClock::Now(), &leaks);
      if (!leaks.empty()) {
        lock.unlock();
        for (const Leak& leak : leaks) LogLeak(leak, /*came_back=*/false);
        leaks.clear();
        lock.lock();
      }
    }
    UpkeepOnce(lock);
    if (st.closed) break;
    lock.Flush();
    st.upkeep_cv.wait_for(lock.raw(), tick, [&] { return st.closed || st.refill_requested; });
    st.refill_requested = false;
  }
}

void PoolCore::FindLeaksLocked(Clock::time_point now, std::vector<Leak>* leaks) {
  State& st = *state_;
  // The coarse clock may lag: a lease is reported once surely past the threshold.
  const std::int64_t due =
      (now - CoarseClock::Slack() - leak_threshold_).time_since_epoch().count();
  for (Slot* slot : st.slots) {
    std::int64_t lent = slot->lent_at.load(std::memory_order_acquire);
    if (lent == 0 || (lent & kLeakReported) != 0 || lent > due) continue;
    const Leak leak{slot->taken_file.load(std::memory_order_relaxed),
                    slot->taken_line.load(std::memory_order_relaxed),
                    now.time_since_epoch() - Clock::duration(lent)};
    // Fails if the lease ended (or the slot was lent again) since the load: nothing to report.
    if (!slot->lent_at.compare_exchange_strong(lent, lent | kLeakReported,
                                               std::memory_order_acq_rel)) {
      continue;
    }
    ++st.counters.leaks_detected;
    leaks->push_back(leak);
  }
}

void PoolCore::LogLeak(const Leak& leak, bool came_back) noexcept {
  std::uint64_t suppressed = 0;
  if (!state_->leak_log.Allow(&suppressed)) return;
  char held[32];
  std::snprintf(held, sizeof(held), "%.3f s", std::chrono::duration<double>(leak.held).count());
  const std::string pool = options_.metrics_name.empty()
                               ? "an unnamed pool (PoolOptions::metrics_name names it)"
                               : "pool \"" + options_.metrics_name + "\"";
  const std::string where =
      std::string(leak.file != nullptr ? leak.file : "?") + ":" + std::to_string(leak.line);
  const std::string also =
      suppressed == 0 ? "" : " (" + std::to_string(suppressed) + " leak lines suppressed before)";
  if (came_back) {
    LOG(WARNING) << "thriftpool: " << pool << ": the lease taken at " << where
                 << " and reported as a possible leak came back after " << held << also;
  } else {
    LOG(WARNING) << "thriftpool: " << pool << ": possible leak: a lease taken at " << where
                 << " has been held for " << held << " (leak_detection_threshold "
                 << options_.leak_detection_threshold.count() << " ms)" << also;
  }
}

void PoolCore::UpkeepOnce(Lock& lock) {
  State& st = *state_;
  const Clock::time_point now = CoarseClock::Now();
  const Clock::time_point late_now = now + CoarseClock::Slack();
  // Parked slots are idle too. Taking them out of their spots costs each thread one Get through
  // the lock, once per tick.
  if (parking_) SweepParkedLocked(/*complete=*/false);

  std::vector<Slot*> expired;
  std::vector<Slot*> to_check;
  const bool keepalive = options_.keepalive_interval.count() > 0 && hooks_->HasKeepaliveCheck();
  auto keep = std::remove_if(st.idle.begin(), st.idle.end(), [&](Slot* slot) {
    std::uint64_t PoolStats::*reason = nullptr;
    if (Expired(*slot, now, &reason)) {
      ForgetLocked(slot, reason);
      expired.push_back(slot);
      return true;
    }
    if (keepalive && late_now - slot->checked_at >= keepalive_interval_) {
      ++st.out;  // lent to this thread for the check
      to_check.push_back(slot);
      return true;
    }
    return false;
  });
  st.idle.erase(keep, st.idle.end());

  std::size_t refills = 0;
  const std::size_t ready = st.idle.size() + to_check.size() + st.refilling;
  if (options_.min_idle > ready && now >= st.refill_not_before) {
    refills = std::min(options_.min_idle - ready, RoomLocked());
    st.creating += refills;
    st.refilling += refills;
    RefreshParkingLocked();
  }
  if (expired.empty() && to_check.empty() && refills == 0) return;

  lock.unlock();
  for (Slot* slot : expired) CloseSlot(slot);
  for (Slot* slot : to_check) {
    const bool alive = hooks_->CheckWhileIdle(slot->object);
    const Clock::time_point checked = CoarseClock::Now();
    lock.lock();
    --st.out;
    Slot* to_close = slot;
    if (st.closed) {
      ForgetLocked(slot, &PoolStats::closed_on_release);
    } else if (!alive) {
      ForgetLocked(slot, &PoolStats::closed_broken);
    } else {
      slot->checked_at = checked;
      to_close = ShelveLocked(slot, /*unused=*/false);
    }
    lock.unlock();
    if (to_close != nullptr) CloseSlot(to_close);
  }
  for (std::size_t made = 0; made < refills; ++made) {
    Slot* slot = nullptr;
    try {
      slot = NewSlot(CreateObject());
    } catch (...) {
      // Back off and give the remaining reservations back; callers never wait on a refill.
      lock.lock();
      const std::size_t unused = refills - made;
      st.creating -= unused;
      st.refilling -= unused;
      RefreshParkingLocked();
      ++st.counters.create_failures;
      st.refill_backoff = std::clamp(st.refill_backoff * 2, kFirstBackoff, kMaxBackoff);
      st.refill_not_before = CoarseClock::Now() + st.refill_backoff;
      WakeWaiterIfUsefulLocked(unused);
      return;
    }
    lock.lock();
    --st.creating;
    --st.refilling;
    AdmitLocked(slot);
    st.refill_backoff = std::chrono::milliseconds(0);
    Slot* to_close = slot;
    if (st.closed) {
      ForgetLocked(slot, &PoolStats::closed_on_release);
    } else {
      to_close = ShelveLocked(slot, /*unused=*/true);
    }
    lock.unlock();
    if (to_close != nullptr) CloseSlot(to_close);
  }
  lock.lock();
}

}  // namespace internal
}  // namespace thriftpool
