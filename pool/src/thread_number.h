// Small numbers for threads, reused once a thread exits. Private to pool/src.
#ifndef THRIFTPOOL_POOL_SRC_THREAD_NUMBER_H_
#define THRIFTPOOL_POOL_SRC_THREAD_NUMBER_H_

#include <cstddef>

namespace thriftpool {
namespace internal {

// The calling thread's number: on its first call, the smallest number that no live thread holds
// (given back when the thread exits). So N threads that live at once hold 0..N-1 if none older
// holds a number, and hold N distinct numbers in any case: a pool indexes its parking spots with
// it (a process-wide counter would let threads that came and went put later threads on one spot)
// and records with it which thread returned a connection. Thread-safe; after a thread's first
// call, one thread-local read.
std::size_t ThisThreadNumber();

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_SRC_THREAD_NUMBER_H_
