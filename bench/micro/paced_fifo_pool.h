// PacedFifoPool<T>: a model (contention_bench variant "paced", not run by default). Waiters queue
// first come, first served, each on a condition_variable of its own; a Put pushes its object and
// wakes the oldest waiter, and running threads may still take the object first. What glibc's
// pthread_cond_signal does by accident in HandWrittenPool (a signaller waits until the waiters
// woken before it have run) is done here on purpose, and in order: a Put that wakes a waiter
// while waiters woken earlier have not run yet waits, in a FIFO queue of returners, until they
// have. A waiter that finds its object taken queues again at the front.
#ifndef THRIFTPOOL_BENCH_MICRO_PACED_FIFO_POOL_H_
#define THRIFTPOOL_BENCH_MICRO_PACED_FIFO_POOL_H_

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

#include "waiter_records.h"

namespace thriftpool {
namespace bench {

// Thread-safety: Get and Put may be called from any thread at once.
template <class T>
class PacedFifoPool {
 public:
  explicit PacedFifoPool(std::size_t max_cap) {
    if (max_cap == 0) throw std::invalid_argument("PacedFifoPool: max_cap must be at least 1");
    for (std::size_t i = 0; i < max_cap; ++i) idle_.push_back(std::make_unique<T>());
  }

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
        for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
          if (*it == &self) {
            waiters_.erase(it);
            break;
          }
        }
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
  struct Sleeper {
    bool go = false;
    std::uint64_t wake = 0;
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
  std::vector<std::unique_ptr<T>> idle_;
  std::deque<Sleeper*> waiters_;
  std::deque<Sleeper*> returners_;
  std::set<std::uint64_t> woken_not_run_;
  std::uint64_t wakes_ = 0;
  WaiterRecords<Sleeper> records_;
};

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_PACED_FIFO_POOL_H_
