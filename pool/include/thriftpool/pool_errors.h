// The errors a ChannelPool throws itself (a factory's exceptions reach the caller unchanged).
#ifndef THRIFTPOOL_POOL_ERRORS_H_
#define THRIFTPOOL_POOL_ERRORS_H_

#include <stdexcept>
#include <string>

namespace thriftpool {

// Base of the pool's own errors.
class PoolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Get waited its whole wait time and no connection became free.
class PoolTimeoutError : public PoolError {
 public:
  using PoolError::PoolError;
};

// The pool was released (or is being destroyed): no more connections are handed out.
class PoolClosedError : public PoolError {
 public:
  using PoolError::PoolError;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_ERRORS_H_
