// RetryGate: whether a failed attempt may be tried again (ClientOptions::retry), and the counts of
// calls and retries that the pools report.
#ifndef THRIFTPOOL_INTERNAL_RETRY_GATE_H_
#define THRIFTPOOL_INTERNAL_RETRY_GATE_H_

#include <thriftpool/client_options.h>
#include <thriftpool/retry_budget.h>

#include <atomic>
#include <cstdint>

namespace thriftpool::internal {

// Thread-safe.
class RetryGate {
 public:
  explicit RetryGate(const RetryOptions& options)
      : max_retries_(options.max_retries),
        budget_(options.budget_ratio, options.budget_min_per_second, options.budget_window) {}

  // Counts a call (its first attempt) and feeds the budget.
  void RecordCall() {
    calls_.fetch_add(1, std::memory_order_relaxed);
    budget_.RecordCall();
  }
  // A failed attempt number `attempt` (0 = the first) may run again: it is `safe`, retries are
  // left, and the budget allows one (which is then spent and counted).
  bool MayRetry(int attempt, bool safe) {
    if (!safe || attempt >= max_retries_) return false;
    if (!budget_.TryWithdraw()) {
      retries_denied_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int max_retries() const { return max_retries_; }
  std::uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  std::uint64_t retries() const { return retries_.load(std::memory_order_relaxed); }
  std::uint64_t retries_denied() const { return retries_denied_.load(std::memory_order_relaxed); }

 private:
  const int max_retries_;
  RetryBudget budget_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> retries_denied_{0};
};

}  // namespace thriftpool::internal

#endif  // THRIFTPOOL_INTERNAL_RETRY_GATE_H_
