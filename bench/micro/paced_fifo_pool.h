// PacedFifoPool<T>: a model (contention_bench variant "paced", not run by default). Waiters queue
// first come, first served, each on a condition_variable of its own; a Put pushes its object and
// wakes the oldest waiter, and running threads may still take the object first. What glibc's
// pthread_cond_signal does by accident in HandWrittenPool (a signaller waits until the waiters
// woken before it have run) is done here on purpose, and in order: a Put that wakes a waiter
// while waiters woken earlier have not run yet waits, in a FIFO queue of returners, until they
// have. A waiter that finds its object taken queues again at the front.
#ifndef THRIFTPOOL_BENCH_MICRO_PACED_FIFO_POOL_H_
#define THRIFTPOOL_BENCH_MICRO_PACED_FIFO_POOL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "model_objects.h"
#include "waiter_records.h"

namespace thriftpool {
namespace bench {

// Thread-safety: Get and Put may be called from any thread at once.
template <class T>
class PacedFifoPool {
 public:
  // Creates max_cap objects up front. Throws std::invalid_argument when max_cap is 0.
  explicit PacedFifoPool(std::size_t max_cap) : idle_(ModelObjects<T>(max_cap, "PacedFifoPool")) {}

  // The most recently returned object, waiting up to `wait` first come, first served (a waiter
  // woken to find it taken waits again, first in line). Throws std::runtime_error when the wait
  // ends empty.
  std::unique_ptr<T> Get(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::unique_lock<std::mutex> lock(mu_);
    bool passed_over = false;
    while (idle_.empty()) {
      Sleeper& self = records_.Take();
      self.go = false;
      if (passed_over) {
        waiters_.push_front(&self);
      } else {
        waiters_.push_back(&self);
      }
      const bool woken = self.cv.wait_until(lock, deadline, [&] { return self.go; });
      if (!woken) {
        waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));  // not woken: queued
        records_.Give(self);
        throw std::runtime_error("PacedFifoPool: no object free within the wait");
      }
      woken_not_run_.erase(self.wake);
      records_.Give(self);
      ReleaseReturnersLocked();
      passed_over = true;
    }
    std::unique_ptr<T> object = std::move(idle_.back());
    idle_.pop_back();
    return object;
  }

  // Returns `object` (not null) to the idle stack and wakes the oldest waiter; first waits, in
  // the order returners came, until every waiter woken before that one has run.
  void Put(std::unique_ptr<T> object) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.push_back(std::move(object));
    if (waiters_.empty()) return;
    Sleeper* woken = waiters_.front();
    waiters_.pop_front();
    woken->go = true;
    woken->wake = ++wakes_;
    const bool pace = !woken_not_run_.empty();
    woken_not_run_.insert(woken->wake);
    Sleeper* self = nullptr;
    if (pace) {
      self = &records_.Take();
      self->go = false;
      self->wake = woken->wake;
      returners_.push_back(self);
    }
    lock.unlock();
    woken->cv.notify_one();
    if (self == nullptr) return;
    lock.lock();
    self->cv.wait(lock, [&] { return self->go; });
    records_.Give(*self);
  }

 private:
  // A waiting Get or a held-back Put. Owned by the pool and reused, never freed while it exists:
  // a Put notifies a woken waiter after unlocking, when the waiter may have left already.
  struct Sleeper {
    bool go = false;         // guarded by mu_: woken (a waiter) or let go (a returner)
    std::uint64_t wake = 0;  // guarded by mu_: the wake this waiter got, or this returner made
    std::condition_variable cv;
  };

  // Lets go the returners all of whose earlier-woken waiters have run.
  void ReleaseReturnersLocked() {
    const std::uint64_t oldest = woken_not_run_.empty() ? UINT64_MAX : *woken_not_run_.begin();
    while (!returners_.empty() && returners_.front()->wake <= oldest) {
      Sleeper* returner = returners_.front();
      returners_.pop_front();
      returner->go = true;
      returner->cv.notify_one();
    }
  }

  std::mutex mu_;
  std::vector<std::unique_ptr<T>> idle_;   // guarded by mu_, most recently returned last
  std::deque<Sleeper*> waiters_;           // guarded by mu_, next to be woken first
  std::deque<Sleeper*> returners_;         // guarded by mu_, Puts held back, oldest first
  std::set<std::uint64_t> woken_not_run_;  // guarded by mu_, the wakes of waiters yet to run
  std::uint64_t wakes_ = 0;                // guarded by mu_, waiters woken so far
  WaiterRecords<Sleeper> records_;         // guarded by mu_
};

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_PACED_FIFO_POOL_H_
