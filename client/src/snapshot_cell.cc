#include <thriftpool/internal/snapshot_cell.h>

#include <chrono>
#include <thread>

namespace thriftpool::internal {

std::size_t ThisThreadShard(std::size_t shards) {
  // Threads in order of first use: consecutive threads get different shards (a hash of the thread
  // id, a stack address, would put many on one).
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t thread_number =
      next_thread.fetch_add(1, std::memory_order_relaxed);
  return thread_number % shards;
}

void PauseForReaders(int round) {
  // A reader leaves within nanoseconds unless it was preempted; then sleeping beats spinning.
  if (round < 64) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace thriftpool::internal
