// Leak detection (PoolOptions::leak_detection_threshold), with real timing at its edges: off by
// default, a lease returned just before the threshold, one returned after the warning, one still
// out at Release, many at once (rate-limited lines, every one counted).
#include <glog/logging.h>
#include <gtest/gtest.h>
#include <thriftpool/metrics_registry.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

// Collects the WARNING lines glog writes while it lives.
class WarningCapture : public google::LogSink {
 public:
  WarningCapture() { google::AddLogSink(this); }
  ~WarningCapture() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity severity, const char*, const char*, int,
            const google::LogMessageTime&, const char* message, std::size_t length) override {
    if (severity != google::GLOG_WARNING) return;
    std::lock_guard<std::mutex> lock(mu_);
    lines_.emplace_back(message, length);
  }
  std::vector<std::string> Lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  // Lines that contain `text`.
  std::vector<std::string> With(const std::string& text) const {
    std::vector<std::string> found;
    for (const std::string& line : Lines()) {
      if (line.find(text) != std::string::npos) found.push_back(line);
    }
    return found;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

constexpr char kThisFile[] = "leak_detection_test.cc";

// The number of seconds written right after `before` in `line` ("... held for 0.153 s"), or -1.
double SecondsAfter(const std::string& line, const std::string& before) {
  const std::size_t at = line.find(before);
  if (at == std::string::npos) return -1;
  return std::stod(line.substr(at + before.size()));
}

class LeakDetectionTest : public PoolTest {
 protected:
  PoolOptions WithThreshold(Ms threshold, const std::string& name = "leaky") {
    PoolOptions options = Caps(4, 4);
    options.leak_detection_threshold = threshold;
    options.metrics_name = name;
    options.metrics_registry = &metrics_;
    return options;
  }
  // The upkeep counts a leak under the pool's lock and logs it after: waits for both.
  bool WaitForLeaks(const FakePool& pool, std::uint64_t leaks, std::size_t lines) {
    return WaitUntil([&] {
      return pool.Stats().leaks_detected == leaks &&
             warnings_.With("has been held").size() >= lines;
    });
  }

  MetricsRegistry metrics_;
  WarningCapture warnings_;
};

TEST_F(LeakDetectionTest, OffByDefault) {
  PoolOptions options = Caps(2, 2);
  EXPECT_EQ(options.leak_detection_threshold, Ms(0));
  FakePool& pool = MakePool(options);
  FakeLease lease = pool.Get();
  std::this_thread::sleep_for(Ms(300));
  lease = FakeLease();
  EXPECT_EQ(pool.Stats().leaks_detected, 0u);
  EXPECT_TRUE(warnings_.With("leak").empty());
}

TEST_F(LeakDetectionTest, AHeldLeaseIsReportedOnceWithWhereItWasTakenAndAgainWhenBack) {
  FakePool& pool = MakePool(WithThreshold(Ms(100)));
  const int line = __LINE__ + 1;
  FakeLease lease = pool.Get();
  ASSERT_TRUE(WaitForLeaks(pool, 1, 1));
  // Reported at most a tick (half the threshold) plus the clock's slack after the threshold.
  std::this_thread::sleep_for(Ms(400));  // four more thresholds: still one report
  EXPECT_EQ(pool.Stats().leaks_detected, 1u);
  const auto reports = warnings_.With("has been held");
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].find("pool \"leaky\""), std::string::npos) << reports[0];
  EXPECT_NE(reports[0].find(std::string(kThisFile) + ":" + std::to_string(line)), std::string::npos)
      << reports[0];
  // Never early: at least the threshold.
  EXPECT_GE(SecondsAfter(reports[0], "held for "), 0.1) << reports[0];
  EXPECT_LT(SecondsAfter(reports[0], "held for "), 1.0) << reports[0];
  EXPECT_TRUE(warnings_.With("came back").empty());

  lease = FakeLease();
  const auto back = warnings_.With("came back");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_NE(back[0].find(std::string(kThisFile) + ":" + std::to_string(line)), std::string::npos)
      << back[0];
  EXPECT_GE(SecondsAfter(back[0], "came back after "), 0.5) << back[0];
  EXPECT_LT(SecondsAfter(back[0], "came back after "), 3.0) << back[0];
  // In the metrics too, and the object went back to the pool as usual.
  EXPECT_NE(metrics_.Render().find("thriftpool_leaks_detected_total{pool=\"leaky\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(pool.Stats().idle, 1u);
  // Lent again and returned quickly: no new report.
  pool.Put(pool.Get());
  std::this_thread::sleep_for(Ms(200));
  EXPECT_EQ(pool.Stats().leaks_detected, 1u);
  EXPECT_EQ(warnings_.With("leak").size(), 2u);
}

TEST_F(LeakDetectionTest, ALeaseReturnedJustBeforeTheThresholdIsNotReported) {
  FakePool& pool = MakePool(WithThreshold(Ms(400)));
  for (int i = 0; i < 2; ++i) {
    FakeLease lease = pool.Get();
    std::this_thread::sleep_for(Ms(300));
  }
  std::this_thread::sleep_for(Ms(500));  // well past where a report would have come
  EXPECT_EQ(pool.Stats().leaks_detected, 0u);
  EXPECT_TRUE(warnings_.With("leak").empty());
}

TEST_F(LeakDetectionTest, GetFreshAndTimedGetsNameTheirCallerToo) {
  FakePool& pool = MakePool(WithThreshold(Ms(50)));
  const int fresh_line = __LINE__ + 1;
  FakeLease fresh = pool.GetFresh();
  const int timed_line = __LINE__ + 1;
  FakeLease timed = pool.Get(Ms(1000));
  ASSERT_TRUE(WaitForLeaks(pool, 2, 2));
  EXPECT_EQ(warnings_.With(std::string(kThisFile) + ":" + std::to_string(fresh_line)).size(), 1u);
  EXPECT_EQ(warnings_.With(std::string(kThisFile) + ":" + std::to_string(timed_line)).size(), 1u);
}

TEST_F(LeakDetectionTest, ReleaseMeanwhile) {
  FakePool& pool = MakePool(WithThreshold(Ms(100)));
  FakeLease reported = pool.Get();
  ASSERT_TRUE(WaitForLeaks(pool, 1, 1));
  FakeLease not_yet = pool.Get();
  pool.Release();  // stops the upkeep: `not_yet` is never reported
  std::this_thread::sleep_for(Ms(300));
  EXPECT_EQ(pool.Stats().leaks_detected, 1u);
  reported = FakeLease();  // still says it came back, and is closed
  not_yet = FakeLease();
  EXPECT_EQ(warnings_.With("came back").size(), 1u);
  EXPECT_EQ(warnings_.With("has been held").size(), 1u);
  EXPECT_EQ(pool.Stats().closed_on_release, 2u);
}

TEST_F(LeakDetectionTest, WorksWithoutMetricsAndNamesAnUnnamedPool) {
  PoolOptions options = Caps(1, 1);
  options.leak_detection_threshold = Ms(50);
  FakePool& pool = MakePool(options);
  FakeLease lease = pool.Get();
  ASSERT_TRUE(WaitForLeaks(pool, 1, 1));
  ASSERT_EQ(warnings_.With("has been held").size(), 1u);
  EXPECT_NE(warnings_.With("has been held")[0].find("unnamed pool"), std::string::npos);
}

TEST_F(LeakDetectionTest, ManyLeaksAtOnceAreAllCountedButLoggedAtARateLimit) {
  PoolOptions options = WithThreshold(Ms(50));
  options.max_cap = options.max_idle = 30;
  FakePool& pool = MakePool(options);
  std::vector<FakeLease> leases;
  for (int i = 0; i < 30; ++i) leases.push_back(pool.Get());
  ASSERT_TRUE(WaitForLeaks(pool, 30, 10));
  leases.clear();
  // 30 reports and 30 returns: a burst of 10 lines, then one per 6 s.
  const auto lines = warnings_.With("leak");
  EXPECT_GE(lines.size(), 10u);
  EXPECT_LE(lines.size(), 11u);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
