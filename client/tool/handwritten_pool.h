// HandWrittenPool<T>: the pool a C++ team writes by hand, kept as the baseline that the
// benchmarks compare ChannelPool and ThriftClientPool with (bench/micro/contention_bench,
// user_client --mode handwritten). One mutex, a LIFO vector of idle objects, and one
// condition_variable notified once per Put; objects are created on demand up to max_cap. No
// checks, no expiry, no fairness: a thread that returns an object and asks again at once usually
// takes it back ahead of the waiters, which is what makes it fast and what starves them.
// Header-only and free of Thrift, so the micro-benchmarks can use it too.
#ifndef THRIFTPOOL_CLIENT_TOOL_HANDWRITTEN_POOL_H_
#define THRIFTPOOL_CLIENT_TOOL_HANDWRITTEN_POOL_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

namespace thriftpool {
namespace tool {

// Thread-safety: every member function may be called from any thread at once.
template <class T>
class HandWrittenPool {
 public:
  // Makes a new object; may throw (the exception reaches the caller of Get, the place is freed).
  using Factory = std::function<std::unique_ptr<T>()>;

  // Throws std::invalid_argument when max_cap is 0 or the factory is missing.
  HandWrittenPool(std::size_t max_cap, Factory factory)
      : max_cap_(max_cap), factory_(std::move(factory)) {
    if (max_cap_ == 0) throw std::invalid_argument("HandWrittenPool: max_cap must be at least 1");
    if (!factory_) throw std::invalid_argument("HandWrittenPool: factory is required");
    idle_.reserve(max_cap_);
  }

  // The most recently returned idle object, else a new one while fewer than max_cap exist, else
  // waits up to `wait` for a Put. Throws std::runtime_error when the wait ends empty.
  std::unique_ptr<T> Get(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool served =
        cv_.wait_for(lock, wait, [&] { return !idle_.empty() || open_ < max_cap_; });
    if (!served) throw std::runtime_error("HandWrittenPool: no object free within the wait");
    if (!idle_.empty()) {
      std::unique_ptr<T> object = std::move(idle_.back());
      idle_.pop_back();
      return object;
    }
    ++open_;
    lock.unlock();
    try {
      return factory_();
    } catch (...) {
      Put(nullptr);
      throw;
    }
  }

  // Returns `object` for reuse; nullptr (a broken object, already destroyed) frees its place.
  void Put(std::unique_ptr<T> object) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (object != nullptr) {
        idle_.push_back(std::move(object));
      } else {
        --open_;
      }
    }
    cv_.notify_one();
  }

  // Objects that exist now: idle + lent out + being created.
  std::size_t open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

 private:
  const std::size_t max_cap_;
  const Factory factory_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<T>> idle_;  // guarded by mu_; most recently returned last
  std::size_t open_ = 0;                  // guarded by mu_
};

}  // namespace tool
}  // namespace thriftpool

#endif  // THRIFTPOOL_CLIENT_TOOL_HANDWRITTEN_POOL_H_
