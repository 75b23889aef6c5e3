// WaiterRecords<Waiter>: the waiter records of the benchmark's model pools (handshake_pool.h,
// bounded_barging_pool.h, paced_fifo_pool.h), owned by the pool and reused, never freed while it
// exists: a Put notifies a waiter through its record after unlocking, when the waiter may have left
// already.
#ifndef THRIFTPOOL_BENCH_MICRO_WAITER_RECORDS_H_
#define THRIFTPOOL_BENCH_MICRO_WAITER_RECORDS_H_

#include <deque>
#include <vector>

namespace thriftpool {
namespace bench {

// Thread-safety: none; the owning pool calls it under its mutex.
template <class Waiter>
class WaiterRecords {
 public:
  // A record not in use: a reused one, or a new one (default-constructed) if none is free.
  Waiter& Take() {
    if (free_.empty()) return records_.emplace_back();
    Waiter& record = *free_.back();
    free_.pop_back();
    return record;
  }
  // `record`, from Take, is no longer in use.
  void Give(Waiter& record) { free_.push_back(&record); }

 private:
  std::deque<Waiter> records_;  // grows only (addresses stay valid)
  std::vector<Waiter*> free_;   // records_ not in use
};

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_WAITER_RECORDS_H_
