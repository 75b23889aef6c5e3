// ModelObjects<T>: the objects a model pool of the benchmark (handshake_pool.h,
// bounded_barging_pool.h, paced_fifo_pool.h) creates up front, as its idle stack.
#ifndef THRIFTPOOL_BENCH_MICRO_MODEL_OBJECTS_H_
#define THRIFTPOOL_BENCH_MICRO_MODEL_OBJECTS_H_

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace thriftpool {
namespace bench {

// max_cap default-constructed objects. Throws std::invalid_argument, naming `pool`, when max_cap
// is 0. Thread-safety: none needed (no shared state).
template <class T>
std::vector<std::unique_ptr<T>> ModelObjects(std::size_t max_cap, const std::string& pool) {
  if (max_cap == 0) throw std::invalid_argument(pool + ": max_cap must be at least 1");
  std::vector<std::unique_ptr<T>> objects;
  objects.reserve(max_cap);
  for (std::size_t i = 0; i < max_cap; ++i) objects.push_back(std::make_unique<T>());
  return objects;
}

}  // namespace bench
}  // namespace thriftpool

#endif  // THRIFTPOOL_BENCH_MICRO_MODEL_OBJECTS_H_
