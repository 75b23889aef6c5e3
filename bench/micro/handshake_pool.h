// HandshakePool<T>: the minimal model of how ChannelPool served its waiters from issue 13 until
// 2026-12-04 (it now follows bounded_barging_pool.h: this yield failed on a busy machine),
// measured by contention_bench (variant "handshake", not run by default) to show the mechanism
// alone. Waiters queue first come, first served, each on a condition_variable of its own. A Put
// pushes the object, takes the oldest waiter off the queue, notifies it, and then yields until
// that waiter runs again (at most kRunsWithin) before it returns. The returner holds nothing
// while it waits, so it cannot take back, on its next Get, the object the waiter was woken for.
// A woken waiter that still finds nothing (another running thread was faster) queues again at
// the back. No fairness bound beyond that, no expiry, no checks: a model, not a pool.
//
// Why: glibc's condition_variable, shared by all waiters as in HandWrittenPool, makes a
// notify_one wait for the waiters it woke earlier (pthread_cond_signal quiesces the old group
// before it switches groups), which is what serves that pool's waiters at their first wake-up.
// Per-waiter condition variables without the wait let the returner take the object back before
// the waiter runs (docs/contention.md has the figures). The waiters' records belong to the pool
// (below), so that the returner may read one after unlocking.
#ifndef THRIFTPOOL_BENCH_MICRO_HANDSHAKE_POOL_H_
#define THRIFTPOOL_BENCH_MICRO_HANDSHAKE_POOL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "model_objects.h"
#include "waiter_records.h"

namespace thriftpool {
namespace bench {

// Thread-safety: Get and Put may be called from any thread at once.
template <class T>
class HandshakePool {
 public:
  // Creates max_cap objects up front. Throws std::invalid_argument when max_cap is 0.
  explicit HandshakePool(std::size_t max_cap) : idle_(ModelObjects<T>(max_cap, "HandshakePool")) {}

  // The most recently returned object, waiting up to `wait` for one. Throws std::runtime_error
  // when the wait ends empty.
  std::unique_ptr<T> Get(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::unique_lock<std::mutex> lock(mu_);
    if (idle_.empty()) {
      Waiter& me = records_.Take();
      while (idle_.empty()) {
        me.woken = false;
        queue_.push_back(&me);
        const bool woken = me.cv.wait_until(lock, deadline, [&] { return me.woken; });
        me.running.store(true, std::memory_order_release);
        if (!woken) {
          queue_.erase(std::find(queue_.begin(), queue_.end(), &me));
          records_.Give(me);
          throw std::runtime_error("HandshakePool: no object free within the wait");
        }
      }
      records_.Give(me);
    }
    std::unique_ptr<T> object = std::move(idle_.back());
    idle_.pop_back();
    return object;
  }

  // Returns `object` (not null) and hands the CPU to the oldest waiter, if any.
  void Put(std::unique_ptr<T> object) {
    Waiter* woken = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(std::move(object));
      if (queue_.empty()) return;
      woken = queue_.front();
      queue_.pop_front();
      woken->woken = true;
      woken->running.store(false, std::memory_order_relaxed);
    }
    woken->cv.notify_one();
    const auto give_up = std::chrono::steady_clock::now() + kRunsWithin;
    while (!woken->running.load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  }

 private:
  static constexpr std::chrono::milliseconds kRunsWithin{10};

  // A waiting Get's record. Owned by the pool and reused, never freed while it exists: the
  // returner reads `running` after unlocking, and a record on the waiter's stack would make the
  // waiter, object in hand, wait for the returner before it leaves (which, measured, cost half
  // the throughput: a preempted returner stalls the one thread holding the object).
  struct Waiter {
    std::condition_variable cv;
    bool woken = false;               // guarded by mu_
    std::atomic<bool> running{true};  // false from its notification until it runs again
  };

  std::mutex mu_;
  std::vector<std::unique_ptr<T>> idle_;  // guarded by mu_, most recently returned last
  std::deque<Waiter*> queue_;             // guarded by mu_, oldest first
  WaiterRecords<Waiter> records_;         // guarded by mu_
};

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_HANDSHAKE_POOL_H_
