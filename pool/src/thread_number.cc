#include "thread_number.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <vector>

namespace thriftpool {
namespace internal {
namespace {

constexpr std::size_t kNoNumber = ~std::size_t{0};

class NumberBook {
 public:
  static NumberBook& Get() {
    static auto* book = new NumberBook;  // never destroyed: threads may outlive statics
    return *book;
  }
  std::size_t Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_.empty()) return next_++;
    std::pop_heap(released_.begin(), released_.end(), std::greater<>());
    const std::size_t number = released_.back();
    released_.pop_back();
    return number;
  }
  void Give(std::size_t number) {
    std::lock_guard<std::mutex> lock(mu_);
    released_.push_back(number);
    std::push_heap(released_.begin(), released_.end(), std::greater<>());
  }

 private:
  std::mutex mu_;
  std::size_t next_ = 0;               // guarded by mu_: never handed out yet from here on
  std::vector<std::size_t> released_;  // guarded by mu_: given back, a min-heap
};

// Gives the thread's number back when the thread exits.
struct NumberHolder {
  std::size_t number = kNoNumber;
  ~NumberHolder() {
    if (number != kNoNumber) NumberBook::Get().Give(number);
  }
};

// A thread_local with a destructor is reached through an initialisation check on each use; this
// plain one is not, and the holder is touched once per thread. Initial-exec: the library is built
// position-independent, where the default model calls __tls_get_addr on every read; this one is a
// single %fs-relative load (8 bytes of the static TLS that every process reserves).
__attribute__((tls_model("initial-exec"))) thread_local std::size_t number = kNoNumber;

// The first call of a thread, out of line so that the fast path saves no registers.
__attribute__((noinline)) std::size_t TakeNumber() {
  thread_local NumberHolder holder;
  holder.number = number = NumberBook::Get().Take();
  return number;
}

}  // namespace

std::size_t ThisThreadNumber() {
  const std::size_t n = number;
  return n != kNoNumber ? n : TakeNumber();
}

}  // namespace internal
}  // namespace thriftpool
