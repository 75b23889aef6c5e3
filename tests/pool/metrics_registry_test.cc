// MetricsRegistry and what a ChannelPool records for it: the exposition's shape, series that
// agree with PoolStats at the edges (failed connects, timeouts, each close reason, Release), the
// histograms' timings, registration for exactly the pool's life (also while Render runs).
#include <gtest/gtest.h>
#include <thriftpool/internal/metric_shards.h>
#include <thriftpool/metrics_registry.h>

#include <atomic>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

// "name{labels}" -> value, for every sample line of an exposition.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

class MetricsTest : public PoolTest {
 protected:
  PoolOptions Named(PoolOptions options, const std::string& name = "p") {
    options.metrics_name = name;
    options.metrics_registry = &metrics_;
    return options;
  }
  std::map<std::string, double> Render() const { return Samples(metrics_.Render()); }
  // One series of pool "p" (plus `extra` labels).
  static std::string Series(const std::string& name, const std::string& extra = "") {
    return name + "{pool=\"p\"" + (extra.empty() ? "" : "," + extra) + "}";
  }
  // Expects every pool series of "p" to agree with `stats`, and the histograms' counts with
  // the numbers of Gets, lease ends and connects.
  void ExpectAgrees(const PoolStats& stats, double gets, double lease_ends) {
    const auto s = Render();
    EXPECT_EQ(s.at(Series("thriftpool_connections", "state=\"idle\"")), stats.idle);
    EXPECT_EQ(s.at(Series("thriftpool_connections", "state=\"in_use\"")), stats.in_use);
    EXPECT_EQ(s.at(Series("thriftpool_connections", "state=\"creating\"")), stats.creating);
    EXPECT_EQ(s.at(Series("thriftpool_connections_max")), stats.max_cap);
    EXPECT_EQ(s.at(Series("thriftpool_waiting_gets")), stats.waiting);
    EXPECT_EQ(s.at(Series("thriftpool_connections_created_total")), stats.created);
    EXPECT_EQ(s.at(Series("thriftpool_connect_failures_total")), stats.create_failures);
    EXPECT_EQ(s.at(Series("thriftpool_wait_timeouts_total")), stats.wait_timeouts);
    EXPECT_EQ(s.at(Series("thriftpool_leaks_detected_total")), stats.leaks_detected);
    EXPECT_EQ(s.at(Series("thriftpool_close_errors_total")), stats.close_errors);
    const std::pair<const char*, std::uint64_t> reasons[] = {
        {"idle_timeout", stats.closed_idle_timeout}, {"max_lifetime", stats.closed_max_lifetime},
        {"max_idle", stats.closed_max_idle},         {"broken", stats.closed_broken},
        {"replaced", stats.closed_replaced},         {"released", stats.closed_on_release}};
    for (const auto& [reason, count] : reasons) {
      EXPECT_EQ(s.at(Series("thriftpool_connections_closed_total",
                            std::string("reason=\"") + reason + "\"")),
                count)
          << reason;
    }
    EXPECT_EQ(s.at(Series("thriftpool_acquire_seconds_count")), gets);
    EXPECT_EQ(s.at(Series("thriftpool_usage_seconds_count")), lease_ends);
    EXPECT_EQ(s.at(Series("thriftpool_connect_seconds_count")), stats.created);
  }

  MetricsRegistry metrics_;
};

TEST(MetricsRegistryTest, AnEmptyRegistryRendersEveryFamilyWithoutSamples) {
  MetricsRegistry metrics;
  const std::string text = metrics.Render();
  EXPECT_TRUE(Samples(text).empty()) << text;
  for (const char* family :
       {"thriftpool_connections", "thriftpool_connections_max", "thriftpool_waiting_gets",
        "thriftpool_connections_created_total", "thriftpool_connections_closed_total",
        "thriftpool_connect_failures_total", "thriftpool_wait_timeouts_total",
        "thriftpool_leaks_detected_total", "thriftpool_acquire_seconds", "thriftpool_usage_seconds",
        "thriftpool_connect_seconds", "thriftpool_calls_total", "thriftpool_retries_total",
        "thriftpool_retries_denied_total", "thriftpool_call_duration_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
  }
}

TEST(MetricsRegistryTest, DefaultIsOneRegistry) {
  EXPECT_EQ(&MetricsRegistry::Default(), &MetricsRegistry::Default());
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithLeAndInf) {
  MetricsRegistry metrics;
  HistogramSnapshot h;
  h.buckets[0] = 2;                        // <= 50 us
  h.buckets[3] = 1;                        // (250 us, 500 us]
  h.buckets[kHistogramBounds.size()] = 1;  // > 10 s
  h.sum_seconds = 12.5;
  auto registration = metrics.RegisterCalls("c", "", [&](CallMetrics* m) { m->duration = h; });
  const auto s = Samples(metrics.Render());
  const std::string b = "thriftpool_call_duration_seconds_bucket{pool=\"c\",le=";
  EXPECT_EQ(s.at(b + "\"5e-05\"}"), 2);
  EXPECT_EQ(s.at(b + "\"0.00025\"}"), 2);
  EXPECT_EQ(s.at(b + "\"0.0005\"}"), 3);
  EXPECT_EQ(s.at(b + "\"10\"}"), 3);
  EXPECT_EQ(s.at(b + "\"+Inf\"}"), 4);
  EXPECT_EQ(s.at("thriftpool_call_duration_seconds_count{pool=\"c\"}"), 4);
  EXPECT_DOUBLE_EQ(s.at("thriftpool_call_duration_seconds_sum{pool=\"c\"}"), 12.5);
}

TEST(MetricsRegistryTest, BucketOfFollowsLe) {
  EXPECT_EQ(internal::BucketOf(0), 0u);
  EXPECT_EQ(internal::BucketOf(50'000), 0u);  // le: a value on the bound is in that bucket
  EXPECT_EQ(internal::BucketOf(50'001), 1u);
  EXPECT_EQ(internal::BucketOf(10'000'000'000), kHistogramBounds.size() - 1);
  EXPECT_EQ(internal::BucketOf(10'000'000'001), kHistogramBounds.size());
}

TEST(MetricsRegistryTest, LabelValuesAreEscaped) {
  MetricsRegistry metrics;
  auto registration =
      metrics.RegisterCalls("a\"b\\c\nd", "h:1", [](CallMetrics* m) { m->retries = 7; });
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("thriftpool_retries_total{pool=\"a\\\"b\\\\c\\nd\",endpoint=\"h:1\"} 7\n"),
            std::string::npos)
      << text;
}

TEST(MetricsRegistryTest, EmptyOrDuplicateLabelsAreRejectedAndFreedOnUnregister) {
  MetricsRegistry metrics;
  const auto none = [](PoolMetrics*) {};
  EXPECT_THROW(metrics.RegisterPool("", "", none), std::invalid_argument);
  auto first = metrics.RegisterPool("p", "", none);
  EXPECT_THROW(metrics.RegisterPool("p", "", none), std::invalid_argument);
  // Another endpoint, or the calls of the same pool, are other series.
  auto other_endpoint = metrics.RegisterPool("p", "e", none);
  auto calls = metrics.RegisterCalls("p", "", [](CallMetrics*) {});
  first.Reset();
  first.Reset();  // idempotent
  EXPECT_NO_THROW(first = metrics.RegisterPool("p", "", none));
}

TEST_F(MetricsTest, OffByDefaultNothingIsRegistered) {
  PoolOptions options = Caps(2, 2);
  options.metrics_registry = &metrics_;  // a registry but no name: still off
  FakePool& pool = MakePool(options);
  pool.Put(pool.Get());
  EXPECT_TRUE(Render().empty());
}

TEST_F(MetricsTest, SeriesAgreeWithStatsThroughGetsPutsAndAFailedConnect) {
  FakePool& pool = MakePool(Named(Caps(2, 2)));
  ExpectAgrees(pool.Stats(), 0, 0);
  FakeLease a = pool.Get();
  ExpectAgrees(pool.Stats(), 1, 0);  // in_use 1, created 1
  registry_->FailNextCreates(1);
  EXPECT_THROW(pool.Get(), FakeDialError);
  ExpectAgrees(pool.Stats(), 1, 0);  // a failed Get is no acquire; connect_failures 1
  FakeLease b = pool.Get();
  pool.Put(std::move(a));
  ExpectAgrees(pool.Stats(), 2, 1);
  EXPECT_EQ(pool.Stats().create_failures, 1u);
  pool.Put(std::move(b));
  ExpectAgrees(pool.Stats(), 2, 2);
}

TEST_F(MetricsTest, TimeoutsCountAndTheWaitIsTimed) {
  FakePool& pool = MakePool(Named(Caps(1, 1)));
  FakeLease held = pool.Get();
  EXPECT_THROW(pool.Get(Ms(0)), PoolTimeoutError);
  EXPECT_THROW(pool.Get(Ms(30)), PoolTimeoutError);
  ExpectAgrees(pool.Stats(), 1, 0);
  EXPECT_EQ(pool.Stats().wait_timeouts, 2u);
  // A Get served after waiting about 100 ms.
  std::thread putter([&] {
    std::this_thread::sleep_for(Ms(100));
    pool.Put(std::move(held));
  });
  FakeLease got = pool.Get(Ms(3000));
  putter.join();
  const auto s = Render();
  EXPECT_EQ(s.at(Series("thriftpool_acquire_seconds_count")), 2);
  EXPECT_GE(s.at(Series("thriftpool_acquire_seconds_sum")), 0.09);
  EXPECT_EQ(s.at(Series("thriftpool_acquire_seconds_bucket", "le=\"0.05\"")), 1);  // the first
  // The lease held across the wait: about 100 ms, give or take the coarse clock's 10 ms.
  EXPECT_GE(s.at(Series("thriftpool_usage_seconds_sum")), 0.08);
  EXPECT_LE(s.at(Series("thriftpool_usage_seconds_sum")), 2.0);
}

TEST_F(MetricsTest, ConnectTimeIsTimed) {
  registry_->SetCreateHook([] { std::this_thread::sleep_for(Ms(40)); });
  FakePool& pool = MakePool(Named(Caps(1, 1)));
  pool.Put(pool.Get());
  const auto s = Render();
  EXPECT_EQ(s.at(Series("thriftpool_connect_seconds_count")), 1);
  EXPECT_GE(s.at(Series("thriftpool_connect_seconds_sum")), 0.035);
  EXPECT_EQ(s.at(Series("thriftpool_connect_seconds_bucket", "le=\"0.025\"")), 0);
  EXPECT_EQ(s.at(Series("thriftpool_connect_seconds_bucket", "le=\"0.05\"")) +
                s.at(Series("thriftpool_connect_seconds_bucket", "le=\"0.1\"")),
            2);  // in (25 ms, 50 ms], or (50, 100] on a loaded machine
  // Acquire covers the connect: the Get created the connection.
  EXPECT_GE(s.at(Series("thriftpool_acquire_seconds_sum")), 0.035);
}

TEST_F(MetricsTest, EachCloseReasonIsCounted) {
  FakePool& pool = MakePool(Named(Caps(2, 1)));
  // max_idle: two back while one may idle.
  FakeLease a = pool.Get();
  FakeLease b = pool.Get();
  pool.Put(std::move(a));
  pool.Put(std::move(b));
  // broken
  pool.Discard(pool.Get());
  // replaced: GetFresh at max_cap with one idle.
  FakeLease c = pool.Get();
  FakeLease d = pool.Get();
  pool.Put(std::move(d));
  FakeLease fresh = pool.GetFresh();
  pool.Put(std::move(fresh));
  pool.Put(std::move(c));  // max_idle again
  // released: the one idle.
  pool.Release();
  ASSERT_TRUE(WaitUntil([&] { return pool.Stats().closing == 0; }));
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.closed_max_idle, 2u);
  EXPECT_EQ(stats.closed_broken, 1u);
  EXPECT_EQ(stats.closed_replaced, 1u);
  EXPECT_EQ(stats.closed_on_release, 1u);
  ExpectAgrees(stats, 6, 6);
}

TEST_F(MetricsTest, IdleTimeoutClosesAreCounted) {
  PoolOptions options = Named(Caps(1, 1));
  options.idle_timeout = Ms(30);
  FakePool& pool = MakePool(options);
  pool.Put(pool.Get());
  ASSERT_TRUE(WaitUntil([&] {
    const PoolStats stats = pool.Stats();
    return stats.closed_idle_timeout == 1 && stats.closing == 0;
  }));
  ExpectAgrees(pool.Stats(), 1, 1);
}

TEST_F(MetricsTest, MaxLifetimeClosesAreCounted) {
  PoolOptions options = Named(Caps(1, 1));
  options.max_lifetime = Ms(40);
  FakePool& pool = MakePool(options);
  FakeLease a = pool.Get();
  std::this_thread::sleep_for(Ms(60));
  pool.Put(std::move(a));  // past its lifetime: closed on return
  ASSERT_TRUE(WaitUntil([&] { return pool.Stats().closing == 0; }));
  ExpectAgrees(pool.Stats(), 1, 1);
  EXPECT_EQ(pool.Stats().closed_max_lifetime, 1u);
}

TEST_F(MetricsTest, EndpointLabelWhenSet) {
  PoolOptions options = Named(Caps(1, 1));
  options.metrics_endpoint = "127.0.0.1:9090";
  FakePool& pool = MakePool(options);
  pool.Put(pool.Get());
  const auto s = Render();
  EXPECT_EQ(s.at("thriftpool_connections_created_total{pool=\"p\",endpoint=\"127.0.0.1:9090\"}"),
            1);
}

TEST_F(MetricsTest, ADuplicateNameFailsTheConstructorBeforeAnyConnect) {
  PoolOptions options = Named(Caps(2, 2));
  options.initial_cap = 1;
  MakePool(options);
  EXPECT_EQ(registry_->factory_calls(), 1);
  try {
    MakeOwnPool(options);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"p\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(registry_->factory_calls(), 1);
}

TEST_F(MetricsTest, APoolIsRegisteredForItsLifeOnly) {
  auto pool = MakeOwnPool(Named(Caps(2, 2), "mine"));
  FakeLease kept = pool->Get();
  EXPECT_NE(metrics_.Render().find("pool=\"mine\""), std::string::npos);
  pool->Release();  // released but alive: still reported
  EXPECT_EQ(Samples(metrics_.Render()).at("thriftpool_connections{pool=\"mine\",state=\"in_use\"}"),
            1);
  pool.reset();  // the lease outlives it
  EXPECT_EQ(metrics_.Render().find("pool=\"mine\""), std::string::npos);
  kept = FakeLease();  // ends after the pool: recorded into the core, read by nobody
  EXPECT_NO_THROW(MakeOwnPool(Named(Caps(2, 2), "mine")));  // the name is free again
}

// UnregisterMetrics: the series go, the pool works on, the name is free for a replacement; a
// second call, or one on a pool without a name, does nothing.
TEST_F(MetricsTest, UnregisterMetricsFreesTheNameAndThePoolWorksOn) {
  auto old_pool = MakeOwnPool(Named(Caps(2, 2), "mine"));
  FakeLease kept = old_pool->Get();
  old_pool->UnregisterMetrics();
  EXPECT_EQ(metrics_.Render().find("pool=\"mine\""), std::string::npos);
  old_pool->UnregisterMetrics();
  auto replacement = MakeOwnPool(Named(Caps(2, 2), "mine"));
  FakeLease fresh = replacement->Get();
  EXPECT_EQ(Samples(metrics_.Render()).at("thriftpool_connections{pool=\"mine\",state=\"in_use\"}"),
            1);
  kept = FakeLease();  // the old pool still takes its lease back and lends again
  EXPECT_EQ(old_pool->Stats().idle, 1u);
  EXPECT_NO_THROW(old_pool->Get());
  old_pool.reset();  // its destructor's unregistration leaves the replacement's alone
  EXPECT_NE(metrics_.Render().find("pool=\"mine\""), std::string::npos);
  auto unnamed = MakeOwnPool(Caps(1, 1));
  EXPECT_NO_THROW(unnamed->UnregisterMetrics());
}

// The race the registration must close: Render reads a pool while another thread destroys it
// (with leases out, Gets under way and Puts after). Under TSan or ASan a read of a destroyed pool
// is a report; in any build each rendered pool must come with all its series.
TEST_F(MetricsTest, PoolsDestroyedWhileRenderRuns) {
  std::atomic<bool> stop{false};
  std::atomic<int> renders{0};
  std::thread renderer([&] {
    while (!stop.load()) {
      const auto s = Samples(metrics_.Render());
      for (const auto& [series, value] : s) {
        if (series.rfind("thriftpool_connections_max{", 0) != 0) continue;
        const std::string labels = series.substr(series.find('{'));
        EXPECT_EQ(s.count("thriftpool_usage_seconds_count" + labels), 1u) << labels;
      }
      ++renders;
    }
  });
  const auto start = Clock::now();
  int rounds = 0;
  while ((renders.load() < 50 || rounds < 50) && Clock::now() - start < Ms(3000)) {
    auto pool = MakeOwnPool(Named(Caps(2, 2), "r" + std::to_string(rounds % 3)));
    FakeLease outliving = pool->Get();
    std::thread user([&] {
      for (int i = 0; i < 20; ++i) pool->Put(pool->Get());
    });
    user.join();
    pool.reset();
    ++rounds;
  }
  stop = true;
  renderer.join();
  EXPECT_GE(renders.load(), 1);
  EXPECT_GE(rounds, 1);
}

TEST_F(MetricsTest, ManyThreadsCountExactly) {
  FakePool& pool = MakePool(Named(Caps(4, 4)));
  constexpr int kThreads = 8;
  constexpr int kCycles = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCycles; ++i) pool.Put(pool.Get(Ms(5000)));
    });
  }
  for (auto& t : threads) t.join();
  ExpectAgrees(pool.Stats(), kThreads * kCycles, kThreads * kCycles);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
