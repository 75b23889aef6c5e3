// SnapshotCell<T>: an immutable value that many threads read and few replace, where a read takes
// no lock and touches no cache line that all readers share for writing.
//
// Readers announce themselves on one of kShards counters (chosen per thread) for the parity of
// the current epoch, read the value, and leave. A replacement publishes the new value, then waits
// out both epoch parities in turn, so that every reader that could still see the old value has
// left before it is destroyed (the two-parity grace period of sleepable RCU). Reads are bounded
// (no waiting); a replacement waits for the reads in progress, which take nanoseconds unless a
// reader is preempted.
#ifndef THRIFTPOOL_INTERNAL_SNAPSHOT_CELL_H_
#define THRIFTPOOL_INTERNAL_SNAPSHOT_CELL_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace thriftpool::internal {

// Which reader counter the calling thread uses: stable per thread, spread over threads.
std::size_t ThisThreadShard(std::size_t shards);
// Yields, then sleeps briefly: the wait of a replacement for a reader.
void PauseForReaders(int round);

template <class T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::unique_ptr<const T> initial) : current_(initial.release()) {}
  ~SnapshotCell() { delete current_.load(std::memory_order_acquire); }
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;

  // Runs fn(const T&) on the current value and returns what it returns; the value stays alive
  // until fn returns (fn must not keep a reference past that). Thread-safe, lock-free.
  template <class Fn>
  decltype(auto) Read(Fn&& fn) const {
    std::atomic<std::int64_t>* counter = Enter();
    struct Exit {
      std::atomic<std::int64_t>* counter;
      ~Exit() { counter->fetch_sub(1, std::memory_order_release); }
    } exit{counter};
    return fn(*current_.load(std::memory_order_seq_cst));
  }

  // Publishes `next`, waits until no reader can still be reading the previous value, and returns
  // the previous value (the caller destroys it, outside any lock of its own if that matters).
  // Replacements are serialized. Thread-safe.
  std::unique_ptr<const T> Replace(std::unique_ptr<const T> next) {
    std::lock_guard<std::mutex> lock(replace_mu_);
    std::unique_ptr<const T> previous(current_.exchange(next.release(), std::memory_order_seq_cst));
    // A reader that saw the previous value entered before the exchange on one of the two
    // parities; flipping the epoch twice and draining the old parity each time covers both.
    for (int flip = 0; flip < 2; ++flip) {
      const std::uint64_t old_parity = epoch_.fetch_add(1, std::memory_order_seq_cst) & 1;
      for (Shard& shard : shards_) {
        for (int round = 0; shard.readers[old_parity].load(std::memory_order_seq_cst) != 0;
             ++round) {
          PauseForReaders(round);
        }
      }
    }
    return previous;
  }

 private:
  static constexpr std::size_t kShards = 32;
  struct alignas(64) Shard {
    std::array<std::atomic<std::int64_t>, 2> readers{};
  };

  std::atomic<std::int64_t>* Enter() const {
    Shard& shard = shards_[ThisThreadShard(kShards)];
    const std::uint64_t parity = epoch_.load(std::memory_order_seq_cst) & 1;
    std::atomic<std::int64_t>* counter = &shard.readers[parity];
    counter->fetch_add(1, std::memory_order_seq_cst);
    return counter;
  }

  std::atomic<const T*> current_;
  alignas(64) std::atomic<std::uint64_t> epoch_{0};
  mutable std::array<Shard, kShards> shards_{};
  std::mutex replace_mu_;
};

}  // namespace thriftpool::internal

#endif  // THRIFTPOOL_INTERNAL_SNAPSHOT_CELL_H_
