// Counts heap allocations: alloc_counter.cc replaces every form of the global operator new in the
// binary it is linked into.
#ifndef THRIFTPOOL_BENCH_MICRO_ALLOC_COUNTER_H_
#define THRIFTPOOL_BENCH_MICRO_ALLOC_COUNTER_H_

#include <cstdint>

namespace thriftpool {
namespace bench {

// Allocations the calling thread has made through any operator new since it started.
// Per thread rather than one shared atomic, so that counting adds no cache-line traffic between
// the very threads whose contention is being measured, and so that allocations of other threads
// (a pool's upkeep thread, the benchmark library's) are not charged to the caller's cycles.
std::uint64_t ThreadAllocationCount() noexcept;

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_ALLOC_COUNTER_H_
