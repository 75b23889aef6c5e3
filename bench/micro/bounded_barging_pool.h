// BoundedBargingPool<T>: a model of a wake-up design that does not yield the CPU, measured by
// contention_bench (variant "bounded", not run by default). ChannelPool follows it since
// 2026-12-04, adding turns while a waiter is due and a due bound of 0.5 ms, not 1 ms (since
// 2026-12-05; pool_core.cc, "Contention"); before, its wake-up handshake yielded, and on a
// machine busy with other work (--cpu_hogs) a yield could hand the CPU to that work for a whole
// time slice (docs/contention.md, "On a busy machine").
//
// Young waiters wait as in HandWrittenPool: one condition_variable shared by all of them,
// notified once per Put after unlocking, so running threads may take an object first and glibc
// serves the woken waiters (pthread_cond_signal waits for the waiters it woke earlier before it
// switches groups). A waiter that has waited kHandOffAfter (1 ms) becomes due: it queues, first
// come, first served, on a condition_variable of its own, and every Put hands its object straight
// to the oldest due waiter instead of pushing it. So no waiter is passed over for much longer than
// kHandOffAfter, and no thread ever waits for another to run. No expiry, no checks, no creation
// on demand: a model, not a pool.
#ifndef THRIFTPOOL_BENCH_MICRO_BOUNDED_BARGING_POOL_H_
#define THRIFTPOOL_BENCH_MICRO_BOUNDED_BARGING_POOL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "model_objects.h"
#include "waiter_records.h"

namespace thriftpool {
namespace bench {

// Thread-safety: Get and Put may be called from any thread at once.
template <class T>
class BoundedBargingPool {
 public:
  // Creates max_cap objects up front. Throws std::invalid_argument when max_cap is 0.
  explicit BoundedBargingPool(std::size_t max_cap)
      : idle_(ModelObjects<T>(max_cap, "BoundedBargingPool")) {}

  // The most recently returned object, or one handed over once this Get is due, waiting up to
  // `wait`. Throws std::runtime_error when the wait ends empty.
  std::unique_ptr<T> Get(std::chrono::milliseconds wait) {
    const auto now = std::chrono::steady_clock::now();
    const auto deadline = now + wait;
    std::unique_lock<std::mutex> lock(mu_);
    const bool young_served = young_cv_.wait_until(lock, std::min(deadline, now + kHandOffAfter),
                                                   [&] { return !idle_.empty() && due_.empty(); });
    if (young_served) return PopIdleLocked();
    Waiter& me = records_.Take();
    due_.push_back(&me);
    me.cv.wait_until(lock, deadline, [&] { return me.handed != nullptr; });
    std::unique_ptr<T> object = std::move(me.handed);
    records_.Give(me);
    if (object == nullptr) {
      due_.erase(std::find(due_.begin(), due_.end(), &me));
      throw std::runtime_error("BoundedBargingPool: no object free within the wait");
    }
    return object;
  }

  // Returns `object` (not null): to the oldest due waiter if there is one, else to the idle
  // stack, waking a young waiter.
  void Put(std::unique_ptr<T> object) {
    Waiter* due = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (due_.empty()) {
        idle_.push_back(std::move(object));
      } else {
        due = due_.front();
        due_.pop_front();
        due->handed = std::move(object);
      }
    }
    if (due != nullptr) {
      due->cv.notify_one();
    } else {
      young_cv_.notify_one();
    }
  }

 private:
  // Not the 200 us of ChannelPool's handshake: young waiters here mostly win at their first
  // wake-up, and the bound only catches the unlucky. contention_bench, 2026-12-04, rows 16/4/20,
  // 64/16/20, 64/16/50: with 100 us 0.64-0.81x the hand-written pool's throughput, with 200 us
  // 0.83-0.99x, with 400 us >= 0.95x but a wait p99 of 0.71 ms at 64 / 16 / 50, with 1 ms
  // 0.97-1.01x and every wait p99 at most 0.02 ms above the hand-written pool's
  // (docs/contention.md).
  static constexpr std::chrono::milliseconds kHandOffAfter{1};

  // A due waiter. Owned by the pool and reused, never freed while it exists: a Put notifies it
  // after unlocking, when the waiter may have left already.
  struct Waiter {
    std::condition_variable cv;
    std::unique_ptr<T> handed;  // guarded by mu_
  };

  std::unique_ptr<T> PopIdleLocked() {
    std::unique_ptr<T> object = std::move(idle_.back());
    idle_.pop_back();
    return object;
  }

  std::mutex mu_;
  std::condition_variable young_cv_;      // waiters younger than kHandOffAfter
  std::vector<std::unique_ptr<T>> idle_;  // guarded by mu_, most recently returned last
  std::deque<Waiter*> due_;               // guarded by mu_, oldest first
  WaiterRecords<Waiter> records_;         // guarded by mu_
};

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_BOUNDED_BARGING_POOL_H_
