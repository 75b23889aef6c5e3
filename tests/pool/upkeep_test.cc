// Background upkeep: expiry without any Get, min_idle refills with back-off, keepalive checks,
// jittered lifetimes, and the upkeep thread's life.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

class UpkeepTest : public PoolTest {
 protected:
  // A pool of max_cap objects keeping min_idle ready; returns once the upkeep has made them.
  FakePool& MinIdlePool(std::size_t max_cap, std::size_t min_idle) {
    PoolOptions options = Caps(max_cap, max_cap);
    options.min_idle = min_idle;
    FakePool& pool = MakePool(options);
    EXPECT_TRUE(WaitUntil([&] { return pool.Len() == min_idle; })) << "min_idle never made";
    return pool;
  }

  // Threads of this process now (Linux).
  static int ThreadCount() {
    int count = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/task")) {
      ++count;
    }
    return count;
  }

  static double ShortestSpanMs(const std::vector<Clock::duration>& spans) {
    return std::chrono::duration<double, std::milli>(*std::min_element(spans.begin(), spans.end()))
        .count();
  }
};

struct ExpiryCase {
  std::string name;
  void (*set)(PoolOptions&);          // turns one expiry on
  std::uint64_t PoolStats::*counter;  // where the closes are counted
  double earliest_ms;                 // no close before this, from creation
};

void PrintTo(const ExpiryCase& c, std::ostream* out) { *out << c.name; }

class BackgroundExpiryTest : public UpkeepTest, public ::testing::WithParamInterface<ExpiryCase> {};

TEST_P(BackgroundExpiryTest, ClosesExpiredIdleObjectsWithoutAnyGet) {
  PoolOptions options = Caps(3, 3);
  options.initial_cap = 3;
  GetParam().set(options);
  FakePool& pool = MakePool(options);
  // Stats count a close when it starts (closing > 0 until the closer returns).
  EXPECT_TRUE(WaitUntil([&] {
    const PoolStats stats = pool.Stats();
    return stats.*GetParam().counter == 3 && stats.closing == 0;
  })) << "closed: "
      << pool.Stats().closed;
  EXPECT_EQ(pool.Len(), 0u);
  EXPECT_EQ(registry_->closed(), 3);
  EXPECT_GE(ShortestSpanMs(registry_->LifeSpans()), GetParam().earliest_ms);
}

INSTANTIATE_TEST_SUITE_P(
    Expiries, BackgroundExpiryTest,
    ::testing::Values(ExpiryCase{"IdleTimeout", [](PoolOptions& o) { o.idle_timeout = Ms(50); },
                                 // The return's coarse stamp lags too (by up
                                 // to the margin): 10 ms early twice. CI saw 37.6 ms.
                                 &PoolStats::closed_idle_timeout, 50 - 2 * 10},
                      ExpiryCase{"MaxLifetime", [](PoolOptions& o) { o.max_lifetime = Ms(80); },
                                 &PoolStats::closed_max_lifetime, 80 * 0.975 - 10}),
    [](const ::testing::TestParamInfo<ExpiryCase>& info) { return info.param.name; });

TEST_F(UpkeepTest, MinIdleKeepsObjectsReadyInTheBackground) {
  FakePool& pool = MinIdlePool(4, 2);
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_TRUE(WaitUntil([&] { return pool.Len() == 2; })) << "not refilled after a Get";
  std::this_thread::sleep_for(Ms(100));
  EXPECT_EQ(registry_->created(), 3) << "made more than min_idle idle objects";
  EXPECT_EQ(pool.Len(), 2u);
}

// At max_cap the upkeep is not woken by take-outs (it could create nothing); a discard that
// makes room asks for the refill at once instead of leaving it to the next tick (1 s here).
TEST_F(UpkeepTest, ADiscardAtMaxCapRefillsMinIdleAtOnce) {
  FakePool& pool = MinIdlePool(2, 1);
  FakeLease first = pool.Get(Ms(0));
  ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "not refilled after a Get";
  FakeLease second = pool.Get(Ms(0));     // max_cap lent out: no room to refill
  std::this_thread::sleep_for(Ms(1200));  // past a tick: still nothing could be created
  EXPECT_EQ(registry_->created(), 2);
  const auto start = Clock::now();
  pool.Discard(std::move(first));
  ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "no refill after the discard";
  EXPECT_LT(MsSince(start), 500.0) << "the refill waited for the upkeep's tick";
  EXPECT_EQ(registry_->created(), 3);
}

TEST_F(UpkeepTest, AGetNeverWaitsForABackgroundRefill) {
  const std::thread::id test_thread = std::this_thread::get_id();
  registry_->SetCreateHook([test_thread] {
    if (std::this_thread::get_id() != test_thread) std::this_thread::sleep_for(Ms(300));
  });
  PoolOptions options = Caps(3, 3);
  options.min_idle = 1;
  FakePool& pool = MakePool(options);
  ASSERT_TRUE(WaitUntil([&] { return pool.Stats().creating == 1; })) << "no background refill";
  auto start = Clock::now();
  FakeLease own = pool.Get();
  EXPECT_LT(MsSince(start), 100.0) << "Get waited for the background factory";

  ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; }));
  start = Clock::now();
  FakeLease refilled = pool.Get();  // takes the last idle one; the refill must not run here
  EXPECT_LT(MsSince(start), 100.0);
  EXPECT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "not refilled in the background";
}

TEST_F(UpkeepTest, MinIdleRefillsBackOffWhileTheFactoryFailsAndRecover) {
  registry_->SetAlwaysFail(true);
  PoolOptions options = Caps(2, 2);
  options.min_idle = 1;
  options.idle_timeout = Ms(20);  // the upkeep also has expiries to watch: it wakes up often
  FakePool& pool = MakePool(options);
  std::this_thread::sleep_for(Ms(1000));
  const int calls = registry_->factory_calls();
  EXPECT_GE(calls, 1) << "no refill attempt";
  EXPECT_LT(calls, 50) << "refills spin on a failing factory";
  EXPECT_GE(pool.Stats().create_failures, static_cast<std::uint64_t>(calls) - 1);

  registry_->SetAlwaysFail(false);
  EXPECT_TRUE(WaitUntil([&] { return pool.Len() == 1; }, Ms(8000))) << "never recovered";
}

TEST_F(UpkeepTest, KeepaliveClosesIdleObjectsThatFailTheCheck) {
  PoolOptions options = Caps(2, 2);
  options.initial_cap = 2;
  options.keepalive_interval = Ms(30);
  FakePool& pool = MakePool(options, Pingers::kSeparate);
  registry_->Kill(1);
  // The upkeep counts the close before it runs the closer: wait for the closer.
  EXPECT_TRUE(WaitUntil([&] { return registry_->CloseCount(1) == 1; }));
  EXPECT_EQ(pool.Stats().closed_broken, 1u);
  EXPECT_EQ(registry_->take_out_pings(), 0) << "the keepalive must use its own pinger";
  const int pings = registry_->keepalive_pings();
  EXPECT_TRUE(WaitUntil([&] { return registry_->keepalive_pings() >= pings + 2; }))
      << "the healthy idle object is not checked again";
  EXPECT_EQ(pool.Stats().closed_broken, 1u) << "a healthy object was closed";
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 2);
}

// Lifetimes are cut at random by up to lifetime_jitter: half way through the jitter range, some
// objects have expired and some have not. (Observed on take-out, which is never late; background
// closes are only as precise as the upkeep tick.)
TEST_F(UpkeepTest, JitteredLifetimesDiffer) {
  constexpr int kObjects = 32;
  const Ms max_lifetime(1000);
  PoolOptions options = Caps(kObjects, kObjects);
  options.initial_cap = kObjects;
  options.max_lifetime = max_lifetime;
  options.lifetime_jitter = 0.5;  // lifetimes in [500 ms, 1000 ms]
  FakePool& pool = MakePool(options);
  std::this_thread::sleep_for(Ms(750));
  std::vector<FakeLease> still_good;
  for (int i = 0; i < kObjects; ++i) {
    FakeLease lease = pool.Get(Ms(0));
    if (lease->id() > kObjects) break;  // no original left: a new one was made
    EXPECT_LT(Clock::now() - lease.created_at(), max_lifetime) << "handed out past its lifetime";
    still_good.push_back(std::move(lease));
  }
  EXPECT_GE(still_good.size(), 1u) << "every lifetime was cut short at 750 ms";
  EXPECT_GE(pool.Stats().closed_max_lifetime, 1u) << "no lifetime was cut";
}

TEST_F(UpkeepTest, TheUpkeepThreadRunsOnlyWhenNeededAndStopsOnReleaseAndDestruction) {
  std::thread([] {}).join();  // sanitizer runtimes start their helper threads with the first one
  const int baseline = ThreadCount();
  FakePool& plain = MakePool(Caps(2, 2));
  { FakeLease lease = plain.Get(); }
  EXPECT_EQ(ThreadCount(), baseline) << "upkeep started with nothing to keep up";

  PoolOptions options = Caps(2, 2);
  options.min_idle = 1;
  FakePool& refilled = MakePool(options);
  ASSERT_TRUE(WaitUntil([&] { return ThreadCount() == baseline + 1; }));
  ASSERT_TRUE(WaitUntil([&] { return refilled.Len() == 1; }));
  refilled.Release();
  EXPECT_TRUE(WaitUntil([&] { return ThreadCount() == baseline; })) << "Release left it running";
  const int calls = registry_->factory_calls();
  std::this_thread::sleep_for(Ms(100));
  EXPECT_EQ(registry_->factory_calls(), calls) << "refilled after Release";

  options = Caps(2, 2);
  options.idle_timeout = Ms(600000);
  options.keepalive_interval = Ms(600000);
  MakePool(options);
  ASSERT_TRUE(WaitUntil([&] { return ThreadCount() == baseline + 1; }));
  const auto start = Clock::now();
  DestroyPools();
  EXPECT_LT(MsSince(start), 1000.0) << "destruction waited for an upkeep tick";
  EXPECT_TRUE(WaitUntil([&] { return ThreadCount() == baseline; }));
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
