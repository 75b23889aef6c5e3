// LatencyHistogram: request latencies in constant memory, for runs of any length.
#ifndef THRIFTPOOL_CLIENT_TOOL_LATENCY_HISTOGRAM_H_
#define THRIFTPOOL_CLIENT_TOOL_LATENCY_HISTOGRAM_H_

#include <chrono>
#include <cstdint>
#include <vector>

namespace thriftpool::tool {

// Log-linear buckets (as in HdrHistogram): exact below 128 ns, then 128 buckets per power of two,
// so a percentile is off by less than 0.4%. About 60 KB, whatever the run's length, so a
// --duration-s run cannot grow without bound the way a vector of samples would. Min, max and
// mean are exact. Not thread-safe: one per load thread, merged at the end.
class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(std::chrono::nanoseconds latency);
  void Merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  // The latency that `percent` (0..100) of the samples do not exceed; 0 when empty.
  std::chrono::nanoseconds Percentile(double percent) const;
  std::chrono::nanoseconds min() const { return std::chrono::nanoseconds(count_ ? min_ : 0); }
  std::chrono::nanoseconds max() const { return std::chrono::nanoseconds(max_); }
  std::chrono::nanoseconds mean() const;

 private:
  static constexpr int kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = 1u << kSubBucketBits;

  static std::size_t IndexOf(std::uint64_t ns);
  // The middle of bucket `index`'s range.
  static std::uint64_t ValueAt(std::size_t index);

  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  // Long double: a day of nanosecond sums stays exact enough for a mean.
  long double sum_ = 0;
};

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_LATENCY_HISTOGRAM_H_
