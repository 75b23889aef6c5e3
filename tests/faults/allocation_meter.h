// The largest single heap allocation since the last reset, whoever made it (operator new, or
// malloc/realloc directly, as Thrift's compact protocol does). It shows that a peer announcing a
// huge size makes the client throw before allocating that size, which RSS alone cannot show
// (untouched pages are not resident).
#ifndef THRIFTPOOL_TESTS_FAULTS_ALLOCATION_METER_H_
#define THRIFTPOOL_TESTS_FAULTS_ALLOCATION_METER_H_

#include <cstddef>

namespace thriftpool::faults {

void ResetLargestAllocation();
std::size_t LargestAllocation();

}  // namespace thriftpool::faults

#endif  // THRIFTPOOL_TESTS_FAULTS_ALLOCATION_METER_H_
