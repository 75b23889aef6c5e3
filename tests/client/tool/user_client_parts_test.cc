// Unit tests of user_client's parts that need no server: the latency histogram and --server
// parsing.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "latency_histogram.h"

namespace thriftpool::tool {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.Percentile(50), nanoseconds(0));
  EXPECT_EQ(histogram.max(), nanoseconds(0));
  EXPECT_EQ(histogram.mean(), nanoseconds(0));
}

TEST(LatencyHistogramTest, PercentilesAreWithinHalfAPercent) {
  LatencyHistogram histogram;
  for (int us = 1; us <= 10000; ++us) histogram.Record(microseconds(us));
  EXPECT_EQ(histogram.count(), 10000u);
  EXPECT_NEAR(histogram.Percentile(50).count(), 5000e3, 5000e3 * 0.005);
  EXPECT_NEAR(histogram.Percentile(99).count(), 9900e3, 9900e3 * 0.005);
  EXPECT_EQ(histogram.Percentile(100), microseconds(10000)) << "the exact max";
  EXPECT_EQ(histogram.Percentile(0), microseconds(1)) << "the exact min";
  EXPECT_EQ(histogram.mean(), nanoseconds(5000500));
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int ns = 0; ns < 100; ++ns) histogram.Record(nanoseconds(ns));
  EXPECT_EQ(histogram.Percentile(50), nanoseconds(49));
}

TEST(LatencyHistogramTest, MergeAddsUp) {
  LatencyHistogram fast;
  LatencyHistogram slow;
  for (int i = 0; i < 99; ++i) fast.Record(microseconds(10));
  slow.Record(microseconds(5000));
  fast.Merge(slow);
  EXPECT_EQ(fast.count(), 100u);
  EXPECT_NEAR(fast.Percentile(99).count(), 10e3, 10e3 * 0.005);
  EXPECT_EQ(fast.Percentile(99.5), microseconds(5000));
  EXPECT_EQ(fast.max(), microseconds(5000));
  EXPECT_EQ(fast.min(), microseconds(10));
}

TEST(LatencyHistogramTest, HugeAndNegativeValuesDoNotBreakIt) {
  LatencyHistogram histogram;
  histogram.Record(nanoseconds(-5));
  histogram.Record(std::chrono::hours(24 * 365));
  EXPECT_EQ(histogram.count(), 2u);
  EXPECT_EQ(histogram.min(), nanoseconds(0));
  EXPECT_EQ(histogram.Percentile(100), std::chrono::hours(24 * 365));
}

}  // namespace
}  // namespace thriftpool::tool
