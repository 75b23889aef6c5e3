// Counters and histograms recorded on hot paths without a lock. Not part of the public API.
#ifndef THRIFTPOOL_INTERNAL_METRIC_SHARDS_H_
#define THRIFTPOOL_INTERNAL_METRIC_SHARDS_H_

#include <thriftpool/metrics_registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace thriftpool {
namespace internal {

// The calling thread's number, unique among live threads (pool/src/thread_number.h).
std::size_t ThisThreadNumber();

// kHistogramBounds in nanoseconds.
inline constexpr std::array<std::uint64_t, kHistogramBounds.size()> kBoundsNs = [] {
  std::array<std::uint64_t, kHistogramBounds.size()> ns{};
  for (std::size_t i = 0; i < ns.size(); ++i) {
    ns[i] = static_cast<std::uint64_t>(kHistogramBounds[i] * 1e9 + 0.5);
  }
  return ns;
}();

// The bucket of a duration: the first whose bound it does not exceed (Prometheus' `le`).
inline std::size_t BucketOf(std::uint64_t ns) {
  std::size_t i = 0;
  while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
  return i;
}

// kHistograms histograms and kCounters counters, one copy per thread and summed when read.
// Thread number n < kOwnedShards writes shard n, which no other live thread writes (thread
// numbers are unique among live threads, and one passes to a new thread only through a mutex
// after its holder exited), so a record is a relaxed load and store on a line no other thread
// writes: no atomic read-modify-write, no sharing. Threads numbered beyond share a last shard
// with atomic adds. Readers sum relaxed loads: each value is exact, a snapshot of several may be
// a few records apart. About 0.5 KB per shard for 3 histograms, allocated once.
template <int kHistograms, int kCounters>
class MetricShards {
 public:
  static constexpr std::size_t kOwnedShards = 64;

  MetricShards() : shards_(std::make_unique<Shard[]>(kOwnedShards + 1)) {}

  // Counts `d` in histogram `h`, for the thread numbered `thread` (ThisThreadNumber()).
  void Observe(std::size_t thread, int h, std::chrono::nanoseconds d) noexcept {
    const std::uint64_t ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
    Shard& s = ShardOf(thread);
    const bool owned = thread < kOwnedShards;
    Bump(s.buckets[h][BucketOf(ns)], 1, owned);
    if (ns != 0) Bump(s.sum_ns[h], ns, owned);
  }
  // Observe(thread, h, 0), cheaper.
  void ObserveZero(std::size_t thread, int h) noexcept {
    Bump(ShardOf(thread).buckets[h][0], 1, thread < kOwnedShards);
  }
  void Add(std::size_t thread, int c, std::uint64_t n = 1) noexcept {
    Bump(ShardOf(thread).counters[c], n, thread < kOwnedShards);
  }

  HistogramSnapshot Histogram(int h) const {
    HistogramSnapshot snapshot;
    std::uint64_t sum_ns = 0;
    for (std::size_t i = 0; i <= kOwnedShards; ++i) {
      const Shard& s = shards_[i];
      for (std::size_t b = 0; b < snapshot.buckets.size(); ++b) {
        snapshot.buckets[b] += s.buckets[h][b].load(std::memory_order_relaxed);
      }
      sum_ns += s.sum_ns[h].load(std::memory_order_relaxed);
    }
    snapshot.sum_seconds = static_cast<double>(sum_ns) * 1e-9;
    return snapshot;
  }
  std::uint64_t Counter(int c) const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= kOwnedShards; ++i) {
      total += shards_[i].counters[c].load(std::memory_order_relaxed);
    }
    return total;
  }

 private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> buckets[kHistograms][kHistogramBounds.size() + 1];
    std::atomic<std::uint64_t> sum_ns[kHistograms];
    std::array<std::atomic<std::uint64_t>, kCounters> counters;
  };

  Shard& ShardOf(std::size_t thread) const {
    return shards_[thread < kOwnedShards ? thread : kOwnedShards];
  }
  static void Bump(std::atomic<std::uint64_t>& value, std::uint64_t n, bool owned) noexcept {
    if (owned) {
      value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      value.fetch_add(n, std::memory_order_relaxed);
    }
  }

  // Value-initialised (zeroed) by make_unique.
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_INTERNAL_METRIC_SHARDS_H_
