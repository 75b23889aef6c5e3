// The largest single allocation made while a fuzz input ran, through the sanitizer runtimes'
// malloc hooks (ASan, TSan); without a sanitizer nothing is tracked.
#ifndef THRIFTPOOL_TESTS_FUZZ_ALLOCATION_TRACKER_H_
#define THRIFTPOOL_TESTS_FUZZ_ALLOCATION_TRACKER_H_

#include <cstddef>
#include <string>

namespace thriftpool::fuzz {

// Installs the hooks once; true if the runtime offers them. Thread-safe.
bool TrackAllocations();
// Allocations count only between these two (the fuzzer's own bookkeeping is left out).
void BeginInput();
void EndInput();
std::size_t LargestAllocation();
// "largest allocation during a call: N bytes" or "... not tracked (no sanitizer)", with '\n';
// tests/fuzz/run reads this line.
std::string FormatLargestAllocation();

}  // namespace thriftpool::fuzz

#endif  // THRIFTPOOL_TESTS_FUZZ_ALLOCATION_TRACKER_H_
