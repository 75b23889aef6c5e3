// One regression test per bug of silenceper/pool v1.0.0 listed in /work/shared/ANCHORS.md, named
// after the bug's number there.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

class AnchorsRegression : public PoolTest {
 protected:
  // Runs `operation` and returns how long it took, in ms.
  static double TimeMs(const std::function<void()>& operation) {
    const auto start = Clock::now();
    operation();
    return MsSince(start);
  }
};

// 1. A zero-value config was accepted, and Get then blocked forever.
TEST_F(AnchorsRegression, Bug1ZeroValueConfigIsRejected) {
  PoolOptions zero;
  zero.max_cap = 0;
  zero.max_idle = 0;
  zero.wait_timeout = Ms(0);
  EXPECT_THROW(FakePool(zero, registry_->Factory(), registry_->Closer()), std::invalid_argument);
  EXPECT_THROW(FakePool(PoolOptions{}, FakePool::Factory(), registry_->Closer()),
               std::invalid_argument);
  EXPECT_THROW(FakePool(PoolOptions{}, registry_->Factory(), FakePool::Closer()),
               std::invalid_argument);
  EXPECT_EQ(registry_->factory_calls(), 0);
}

// 2. Closing a bad connection freed a slot but woke no waiter.
TEST_F(AnchorsRegression, Bug2ClosingABadConnectionWakesAWaiter) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  const int served = ServeWaiterAfter(pool, [&] {
    held.MarkBroken();
    held = FakeLease();
  });
  EXPECT_EQ(served, 2);
  EXPECT_EQ(registry_->CloseCount(1), 1);
}

// 3. Release woke no waiter.
TEST_F(AnchorsRegression, Bug3ReleaseWakesEveryWaiter) {
  constexpr std::size_t kWaiters = 3;
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  // Each waiter returns when it got PoolClosedError, or nullopt if it got anything else.
  std::vector<std::future<std::optional<Clock::time_point>>> waiters;
  for (std::size_t i = 0; i < kWaiters; ++i) {
    waiters.push_back(std::async(std::launch::async, [&pool]() -> std::optional<Clock::time_point> {
      try {
        pool.Get(Ms(5000));
      } catch (const PoolError& e) {  // PoolClosedError derives from PoolError
        if (dynamic_cast<const PoolClosedError*>(&e) != nullptr) return Clock::now();
      }
      return std::nullopt;
    }));
  }
  ASSERT_TRUE(WaitForWaiters(pool, kWaiters));
  const auto release_time = Clock::now();
  pool.Release();
  for (auto& waiter : waiters) {
    const std::optional<Clock::time_point> woken = waiter.get();
    ASSERT_TRUE(woken.has_value()) << "a waiter did not get PoolClosedError";
    EXPECT_GE(*woken, release_time);
    EXPECT_LT(*woken - release_time, Ms(2000)) << "a waiter was not woken by Release";
  }
  EXPECT_EQ(pool.Stats().waiting, 0u);
}

// 4. A Put after Release never called the user's Close: the connection leaked.
TEST_F(AnchorsRegression, Bug4APutAfterReleaseCallsTheCloser) {
  FakePool& pool = MakePool(Caps(2, 2));
  FakeLease put = pool.Get();
  FakeLease ended = pool.Get();
  const int put_id = put->id();
  const int ended_id = ended->id();
  pool.Release();
  EXPECT_EQ(registry_->closed(), 0);
  pool.Put(std::move(put));
  EXPECT_EQ(registry_->CloseCount(put_id), 1);
  ended = FakeLease();
  EXPECT_EQ(registry_->CloseCount(ended_id), 1);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.closed_on_release, 2u);
  EXPECT_EQ(stats.idle, 0u);
}

// 5. The factory ran under the pool lock: a 300 ms dial stalled an unrelated Put for 280 ms. The
// closer ran under it too.
TEST_F(AnchorsRegression, Bug5SlowFactoryAndCloserDoNotStallOtherCallers) {
  FakePool& pool = MakePool(Caps(3, 3));
  FakeLease lease = pool.Get();
  registry_->SetCreateHook([] { std::this_thread::sleep_for(Ms(200)); });
  auto slow_get = std::async(std::launch::async, [&pool] { return pool.Get(); });
  ASSERT_TRUE(WaitUntil([&] { return pool.Stats().creating == 1; }));
  EXPECT_LT(TimeMs([&] { pool.Put(std::move(lease)); }), 100.0) << "Put stalled by a factory";
  EXPECT_LT(TimeMs([&] { lease = pool.Get(Ms(0)); }), 100.0) << "Get stalled by a factory";
  EXPECT_EQ(lease->id(), 1);
  FakeLease slow = slow_get.get();
  registry_->SetCreateHook(nullptr);

  registry_->SetCloseHook([] { std::this_thread::sleep_for(Ms(200)); });
  auto slow_discard = std::async(std::launch::async, [&] { pool.Discard(std::move(slow)); });
  ASSERT_TRUE(WaitUntil([&] { return registry_->closed() == 1; }));  // the closer is running
  EXPECT_LT(TimeMs([&] { pool.Put(std::move(lease)); }), 100.0) << "Put stalled by a closer";
  EXPECT_LT(TimeMs([&] { lease = pool.Get(Ms(0)); }), 100.0) << "Get stalled by a closer";
  slow_discard.get();
  registry_->SetCloseHook(nullptr);
}

// 6. Lost wake-up: a Put between Get's look at the idle channel and its wait left Get waiting
// forever (6 hangs in 200 rounds with MaxCap=1 and 2 goroutines).
TEST_F(AnchorsRegression, Bug6NoLostWakeup) {
  constexpr int kRounds = 300;
  constexpr int kCyclesPerThread = 20;
  std::atomic<int> timeouts{0};
  int round = 0;
  for (; round < kRounds && timeouts == 0; ++round) {
    PoolOptions options = Caps(1, 1);
    options.wait_timeout = Ms(4000);
    std::unique_ptr<FakePool> owned = MakeOwnPool(options);
    FakePool& pool = *owned;
    const int threads = 2 + round % 3;
    std::vector<std::future<void>> workers;
    for (int t = 0; t < threads; ++t) {
      workers.push_back(std::async(std::launch::async, [&] {
        for (int i = 0; i < kCyclesPerThread; ++i) {
          try {
            FakeLease lease = pool.Get();
          } catch (const PoolTimeoutError&) {
            ++timeouts;
            return;
          }
        }
      }));
    }
    for (auto& worker : workers) {
      if (worker.wait_for(Ms(5000)) != std::future_status::ready) {
        ADD_FAILURE() << "round " << round << " still running after 5 s";
      }
      worker.get();  // bounded by wait_timeout
    }
    EXPECT_EQ(InvariantViolation(pool.Stats()), "");
  }
  EXPECT_EQ(timeouts.load(), 0) << "a Get waited while an object was idle";
  EXPECT_EQ(round, kRounds);
  EXPECT_EQ(registry_->created(), kRounds) << "max_cap 1: one object per round";
}

// 7. Counter drift: a double Close was accepted, and 3 connections were out at once with
// MaxCap=2.
TEST_F(AnchorsRegression, Bug7DoubleDiscardIsRejectedAndCountersDoNotDrift) {
  FakePool& pool = MakePool(Caps(2, 2));
  FakeLease lease = pool.Get();
  pool.Discard(std::move(lease));
  EXPECT_THROW(pool.Discard(std::move(lease)), std::invalid_argument);
  FakeLease first = pool.Get(Ms(0));
  FakeLease second = pool.Get(Ms(0));
  EXPECT_THROW(pool.Get(Ms(0)), PoolTimeoutError) << "a third object with max_cap 2";
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.open, 2u);
  EXPECT_EQ(stats.closed, 1u);
  EXPECT_EQ(registry_->CloseCount(1), 1);
  EXPECT_LE(registry_->max_live(), 2);
}

// 8. A double Put handed the same connection to two callers.
TEST_F(AnchorsRegression, Bug8DoublePutIsRejected) {
  FakePool& pool = MakePool(Caps(2, 2));
  FakeLease lease = pool.Get();
  pool.Put(std::move(lease));
  EXPECT_THROW(pool.Put(std::move(lease)), std::invalid_argument);
  EXPECT_EQ(pool.Len(), 1u);
  FakeLease first = pool.Get(Ms(0));
  FakeLease second = pool.Get(Ms(0));
  EXPECT_NE(first.get(), second.get()) << "one object lent to two callers";
}

// 9. Data race on the ping function during Release. Meaningful under ThreadSanitizer.
TEST_F(AnchorsRegression, Bug9NoRaceOnThePingerDuringRelease) {
  PoolOptions options = Caps(2, 2);
  options.keepalive_interval = Ms(1);  // the background check pings too
  FakePool& pool = MakePool(options, Pingers::kTakeOut);
  const auto deadline = Clock::now() + Ms(3000);
  std::vector<std::future<bool>> workers;  // each: whether it saw PoolClosedError
  for (int t = 0; t < 4; ++t) {
    workers.push_back(std::async(std::launch::async, [&pool, deadline] {
      // The deadline ends the loop; the count only bounds it should the clock misbehave (a
      // Get+Put of a parked object takes tens of nanoseconds, so a million can pass before the
      // pingers have run 20 times).
      for (long i = 0; i < 1000000000L && Clock::now() < deadline; ++i) {
        try {
          FakeLease lease = pool.Get(Ms(50));
        } catch (const PoolClosedError&) {
          return true;
        } catch (const PoolTimeoutError&) {
        }
      }
      return false;
    }));
  }
  ASSERT_TRUE(WaitUntil([&] { return registry_->take_out_pings() > 20; }));
  pool.Release();
  for (auto& worker : workers) EXPECT_TRUE(worker.get()) << "a worker never saw the Release";
}

// 10. A connection handed straight to a waiter skipped Ping. Both right after the waiter queued
// (woken to retry) and after it has waited a while (objects may then be passed to it directly).
TEST_F(AnchorsRegression, Bug10AnObjectHandedToAWaiterIsPinged) {
  FakePool& pool = MakePool(PingEveryTakeOut(Caps(1, 1)), Pingers::kTakeOut);
  for (const Ms settle : {Ms(0), Ms(50)}) {
    FakeLease held = pool.Get();
    const int dead = held->id();
    const int served = ServeWaiterAfter(
        pool,
        [&] {
          registry_->Kill(dead);
          pool.Put(std::move(held));
        },
        settle);
    EXPECT_EQ(served, dead + 1) << "the waiter got the dead object (settle " << settle.count()
                                << " ms)";
  }
  EXPECT_GE(registry_->take_out_pings(), 2);
  EXPECT_EQ(pool.Stats().closed_broken, 2u);
}

// 11. Waiting had no timeout at all.
TEST_F(AnchorsRegression, Bug11WaitingHasATimeout) {
  EXPECT_GT(PoolOptions{}.wait_timeout, Ms(0)) << "the default wait must be bounded";
  PoolOptions options = Caps(1, 1);
  options.wait_timeout = Ms(100);
  FakePool& pool = MakePool(options);
  FakeLease held = pool.Get();
  const auto start = Clock::now();
  EXPECT_THROW(pool.Get(), PoolTimeoutError);
  EXPECT_GE(MsSince(start), 90.0);
  EXPECT_LT(MsSince(start), 2000.0);
}

// 12. No max lifetime; Len() counted idle connections only and there were no statistics.
TEST_F(AnchorsRegression, Bug12MaxLifetimeExistsAndStatsSayMoreThanLen) {
  PoolOptions options = Caps(3, 3);
  options.max_lifetime = Ms(100);
  FakePool& pool = MakePool(options);
  FakeLease old = pool.Get();
  { FakeLease idle = pool.Get(); }
  EXPECT_EQ(pool.Len(), 1u);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.open, 2u);
  EXPECT_EQ(stats.in_use, 1u);
  EXPECT_EQ(stats.idle, 1u);
  EXPECT_EQ(stats.created, 2u);
  EXPECT_EQ(stats.max_cap, 3u);

  std::this_thread::sleep_for(Ms(150));
  const int old_id = old->id();
  pool.Put(std::move(old));  // returned past its lifetime: closed, not kept
  EXPECT_EQ(registry_->CloseCount(old_id), 1);
  FakeLease fresh = pool.Get(Ms(0));
  EXPECT_EQ(fresh->id(), 3);
  EXPECT_EQ(pool.Stats().closed_max_lifetime, 2u);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
