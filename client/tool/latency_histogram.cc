#include "latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace thriftpool::tool {
namespace {

constexpr int kMaxExponent = 63;

int Log2(std::uint64_t value) { return 63 - __builtin_clzll(value); }

}  // namespace

LatencyHistogram::LatencyHistogram()
    : buckets_(kSubBuckets + (kMaxExponent - kSubBucketBits + 1) * kSubBuckets, 0) {}

// Below kSubBuckets: one bucket per nanosecond. From 2^k (k >= kSubBucketBits) on: the top
// kSubBucketBits + 1 bits pick one of kSubBuckets buckets for the range [2^k, 2^(k+1)).
std::size_t LatencyHistogram::IndexOf(std::uint64_t ns) {
  if (ns < kSubBuckets) return ns;
  const int exponent = Log2(ns);
  const std::uint64_t top = ns >> (exponent - kSubBucketBits);  // in [kSubBuckets, 2*kSubBuckets)
  return kSubBuckets + (exponent - kSubBucketBits) * kSubBuckets + (top - kSubBuckets);
}

std::uint64_t LatencyHistogram::ValueAt(std::size_t index) {
  if (index < kSubBuckets) return index;
  const std::size_t rest = index - kSubBuckets;
  const int shift = static_cast<int>(rest / kSubBuckets);
  const std::uint64_t top = kSubBuckets + rest % kSubBuckets;
  const std::uint64_t width = std::uint64_t{1} << shift;
  return (top << shift) + width / 2;
}

void LatencyHistogram::Record(std::chrono::nanoseconds latency) {
  const std::uint64_t ns = latency.count() > 0 ? static_cast<std::uint64_t>(latency.count()) : 0;
  ++buckets_[IndexOf(ns)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += ns;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

std::chrono::nanoseconds LatencyHistogram::Percentile(double percent) const {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  const double clamped = std::clamp(percent, 0.0, 100.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_))));
  // The extremes are known exactly; a bucket's middle would only approximate them.
  if (rank >= count_) return std::chrono::nanoseconds(max_);
  if (clamped == 0) return std::chrono::nanoseconds(min_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      // A bucket's middle may lie outside what was seen.
      return std::chrono::nanoseconds(std::clamp(ValueAt(i), min_, max_));
    }
  }
  return std::chrono::nanoseconds(max_);
}

std::chrono::nanoseconds LatencyHistogram::mean() const {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(sum_ / count_));
}

}  // namespace thriftpool::tool
