// Concurrency: callbacks run outside the pool's lock, and a stress test that checks max_cap and the
// stats invariants under every interleaving it meets.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

class ConcurrencyTest : public PoolTest {};

// Stats() and Len() take the pool's (non-recursive) lock: called from a callback that ran under
// it, they would deadlock, which the watchdog turns into a failure.
TEST_F(ConcurrencyTest, CallbacksNeverRunUnderThePoolLock) {
  PoolOptions options = Caps(2, 2);
  options.idle_timeout = Ms(200);  // long enough for keepalive checks to come first
  options.keepalive_interval = Ms(10);
  FakePool* pool = &MakePool(options, Pingers::kSeparate);
  struct Seen {
    std::atomic<int> creates{0}, closes{0}, pings{0};
    std::mutex mu;
    std::string violation;  // guarded by mu
  };
  auto seen = std::make_shared<Seen>();
  auto look = [pool, seen](std::atomic<int>& counter) {
    const PoolStats stats = pool->Stats();
    pool->Len();
    const std::string violation = InvariantViolation(stats);
    if (!violation.empty()) {
      std::lock_guard<std::mutex> lock(seen->mu);
      seen->violation = violation;
    }
    ++counter;
  };
  registry_->SetCreateHook([look, seen] { look(seen->creates); });
  registry_->SetCloseHook([look, seen] { look(seen->closes); });
  registry_->SetPingHook([look, seen] { look(seen->pings); });

  const bool finished = RunWithWatchdog(
      [pool, registry = registry_] {
        FakeLease lease = pool->Get();  // factory
        pool->Put(std::move(lease));
        lease = pool->Get();              // take-out pinger
        pool->Discard(std::move(lease));  // closer
        { FakeLease idle = pool->Get(); }
        const int pings = registry->keepalive_pings();
        WaitUntil([&] { return registry->keepalive_pings() > pings; });  // keepalive pinger
        WaitUntil(
            [&] { return pool->Stats().closed_idle_timeout > 0; });  // closer of an expired one
        { FakeLease idle = pool->Get(); }
        pool->Release();  // closer of an idle one
      },
      Ms(10000));
  if (!finished) {
    AbandonPools();
    FAIL() << "deadlock: a callback ran under the pool's lock";
  }
  registry_->SetCreateHook(nullptr);
  registry_->SetCloseHook(nullptr);
  registry_->SetPingHook(nullptr);
  EXPECT_GE(seen->creates, 2);
  EXPECT_GE(seen->closes, 3);
  EXPECT_GE(seen->pings, 2);
  EXPECT_GE(registry_->keepalive_pings(), 1);
  EXPECT_EQ(pool->Stats().closed_idle_timeout, 1u);
  std::lock_guard<std::mutex> lock(seen->mu);
  EXPECT_EQ(seen->violation, "");
}

struct StressCase {
  std::string name;
  std::size_t max_idle;  // of max_cap 3; below it turns parking off, as min_idle does below max_cap
  bool expiring;         // short idle_timeout / max_lifetime and keepalive in the background
  std::size_t min_idle;  // with expiring
};

void PrintTo(const StressCase& c, std::ostream* out) { *out << c.name; }

class StressTest : public PoolTest, public ::testing::WithParamInterface<StressCase> {};

TEST_P(StressTest, NeverMoreThanMaxCapAndTheInvariantsAlwaysHold) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 400;
  constexpr std::size_t kMaxCap = 3;
  PoolOptions options = Caps(kMaxCap, GetParam().max_idle);
  options.wait_timeout = Ms(3);
  if (GetParam().expiring) {
    options.idle_timeout = Ms(2);
    options.max_lifetime = Ms(10);
    options.keepalive_interval = Ms(1);
    options.min_idle = GetParam().min_idle;
  }
  FakePool& pool = MakePool(options, Pingers::kSeparate);
  std::atomic<int> factory_calls{0};
  registry_->SetCreateHook([&factory_calls] {
    if (++factory_calls % 8 == 0) throw FakeDialError("every 8th dial fails");
  });
  std::atomic<int> pings{0};
  registry_->SetPingHook([&pings] {
    if (++pings % 10 == 0) throw std::runtime_error("every 10th ping fails");
  });

  std::atomic<bool> done{false};
  auto monitor = std::async(std::launch::async, [&] {
    const auto deadline = Clock::now() + Ms(30000);
    int checks = 0;
    while (!done && Clock::now() < deadline) {
      const std::string violation = InvariantViolation(pool.Stats());
      if (!violation.empty()) return violation;
      if (registry_->live() > static_cast<int>(kMaxCap)) return std::string("too many live");
      ++checks;
      std::this_thread::yield();
    }
    return checks > 0 ? std::string() : std::string("never checked");
  });

  std::atomic<int> served{0};
  std::vector<std::future<void>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(std::async(std::launch::async, [&, t] {
      std::mt19937 random(1234 + t);
      auto percent = [&random] { return std::uniform_int_distribution<int>(0, 99)(random); };
      for (int i = 0; i < kIterations; ++i) {
        FakeLease lease;
        try {
          const Ms wait(percent() % 4);
          lease = percent() < 10 ? pool.GetFresh(wait) : pool.Get(wait);
        } catch (const PoolTimeoutError&) {
          continue;
        } catch (const FakeDialError&) {
          continue;
        }
        ++served;
        std::this_thread::sleep_for(std::chrono::microseconds(percent() * 2));
        const int action = percent();
        if (action < 50) {
          pool.Put(std::move(lease));
        } else if (action < 65) {
          pool.Discard(std::move(lease));
        } else if (action < 80) {
          lease.MarkBroken();
        }  // else the lease's destructor puts it back
      }
    }));
  }
  for (auto& worker : workers) worker.get();
  done = true;
  EXPECT_EQ(monitor.get(), "");

  registry_->SetCreateHook(nullptr);
  registry_->SetPingHook(nullptr);
  EXPECT_GT(served, kThreads) << "the stress did almost nothing";
  EXPECT_LE(registry_->max_live(), static_cast<int>(kMaxCap));
  EXPECT_LE(pool.Stats().open, kMaxCap);
  pool.Release();
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.open, 0u);
  EXPECT_EQ(stats.in_use, 0u);
  EXPECT_EQ(stats.creating, 0u);
  EXPECT_EQ(registry_->closed(), registry_->created());
}

INSTANTIATE_TEST_SUITE_P(Modes, StressTest,
                         ::testing::Values(StressCase{"Parked", 3, false, 0},
                                           StressCase{"Stacked", 2, false, 0},
                                           StressCase{"ExpiringWithUpkeep", 3, true, 1},
                                           StressCase{"ExpiringParked", 3, true, 0}),
                         [](const ::testing::TestParamInfo<StressCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
