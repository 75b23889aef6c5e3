// ChannelPool<T>: construction, Put/Discard, take-out checks, max_idle, waiting, factory and closer
// errors, Release, GetFresh.
#include <gtest/gtest.h>
#include <thriftpool/channel_pool.h>

#include <future>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

static_assert(std::is_base_of_v<PoolError, PoolTimeoutError>);
static_assert(std::is_base_of_v<PoolError, PoolClosedError>);
static_assert(std::is_base_of_v<std::runtime_error, PoolError>);

// An error type of the user's own, to check it reaches the caller unchanged.
class DialRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ChannelPoolTest : public PoolTest {
 protected:
  // Runs `get`, which must throw PoolTimeoutError after about `wait`; returns the elapsed ms.
  static double ExpectTimeout(const std::function<void()>& get, Ms wait) {
    const auto start = Clock::now();
    EXPECT_THROW(get(), PoolTimeoutError);
    const double elapsed = MsSince(start);
    EXPECT_GE(elapsed, wait.count() - 10.0);
    EXPECT_LT(elapsed, wait.count() + 2000.0);
    return elapsed;
  }

  static PoolOptions WithInitialCap(std::size_t initial_cap, std::size_t max_cap) {
    PoolOptions options = Caps(max_cap, max_cap);
    options.initial_cap = initial_cap;
    return options;
  }
};

// --- Construction ---

TEST_F(ChannelPoolTest, ConstructorOpensInitialCapObjects) {
  FakePool& pool = MakePool(WithInitialCap(3, 4));
  EXPECT_EQ(registry_->created(), 3);
  EXPECT_EQ(pool.Len(), 3u);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.idle, 3u);
  EXPECT_EQ(stats.open, 3u);
  EXPECT_EQ(stats.created, 3u);
  EXPECT_EQ(stats.max_cap, 4u);
}

TEST_F(ChannelPoolTest, ConstructorFactoryErrorPropagatesAndClosesTheObjectsMade) {
  registry_->SetCreateHook([registry = registry_.get()] {
    if (registry->factory_calls() == 3) throw DialRefused("third dial refused");
  });
  try {
    MakeOwnPool(WithInitialCap(4, 4));
    FAIL() << "the constructor swallowed the factory's error";
  } catch (const DialRefused& e) {
    EXPECT_STREQ(e.what(), "third dial refused");
  }
  EXPECT_EQ(registry_->created(), 2);
  EXPECT_EQ(registry_->closed(), 2);
}

// --- Put and Discard ---

TEST_F(ChannelPoolTest, PutKeepsTheObjectForReuse) {
  FakePool& pool = MakePool(Caps(4, 4));
  FakeLease lease = pool.Get();
  FakeConn* object = lease.get();
  pool.Put(std::move(lease));
  EXPECT_FALSE(lease);  // NOLINT(bugprone-use-after-move): Put leaves the lease empty
  EXPECT_EQ(pool.Len(), 1u);
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again.get(), object);
  EXPECT_EQ(registry_->created(), 1);
  EXPECT_EQ(registry_->closed(), 0);
}

// With max_idle == max_cap the object is parked for its thread; below it, it goes on the idle
// stack, and a Get looks there for the one its thread returned last.
class ReturnedLastTest : public PoolTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(ReturnedLastTest, AThreadGetsBackTheObjectItReturnedLast) {
  FakePool& pool = MakePool(Caps(4, GetParam()));
  FakeLease mine = pool.Get();
  FakeLease theirs = pool.Get();
  FakeConn* my_object = mine.get();
  pool.Put(std::move(mine));
  std::thread other([&] { pool.Put(std::move(theirs)); });  // now the most recently returned
  other.join();
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again.get(), my_object) << "took another thread's object over its own";
  FakeLease next = pool.Get(Ms(0));
  EXPECT_NE(next.get(), my_object);
  EXPECT_EQ(registry_->created(), 2);
}

INSTANTIATE_TEST_SUITE_P(MaxIdle, ReturnedLastTest,
                         ::testing::Values(std::size_t{4}, std::size_t{3}),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return info.param == 4 ? std::string("Parked") : std::string("Stacked");
                         });

TEST_F(ChannelPoolTest, DiscardClosesTheObjectAndFreesItsSlot) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease lease = pool.Get();
  pool.Discard(std::move(lease));
  EXPECT_FALSE(lease);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(registry_->CloseCount(1), 1);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.closed_broken, 1u);
  EXPECT_EQ(stats.open, 0u);
  FakeLease next = pool.Get(Ms(0));  // the only slot is free again
  EXPECT_EQ(next->id(), 2);
}

enum class How { kPut, kDiscard };

void PrintTo(How how, std::ostream* out) { *out << (how == How::kPut ? "Put" : "Discard"); }

class GivebackTest : public PoolTest, public ::testing::WithParamInterface<How> {
 protected:
  void GiveBack(FakePool& pool, FakeLease& lease) {
    if (GetParam() == How::kPut) {
      pool.Put(std::move(lease));
    } else {
      pool.Discard(std::move(lease));
    }
  }
};

TEST_P(GivebackTest, RejectsEmptyLeasesSoTwiceIsAnError) {
  FakePool& pool = MakePool(Caps(2, 2));
  FakeLease never_filled;
  EXPECT_THROW(GiveBack(pool, never_filled), std::invalid_argument);

  FakeLease lease = pool.Get();
  FakeLease moved_to = std::move(lease);
  EXPECT_THROW(GiveBack(pool, lease), std::invalid_argument);  // moved-from

  GiveBack(pool, moved_to);
  const PoolStats before = pool.Stats();
  EXPECT_THROW(GiveBack(pool, moved_to), std::invalid_argument);  // the second Put or Discard
  EXPECT_THROW(pool.Put(std::move(moved_to)), std::invalid_argument);
  EXPECT_THROW(pool.Discard(std::move(moved_to)), std::invalid_argument);
  const PoolStats after = pool.Stats();
  EXPECT_EQ(after.idle, before.idle);
  EXPECT_EQ(after.closed, before.closed);
  EXPECT_EQ(registry_->CloseCount(1), GetParam() == How::kDiscard ? 1 : 0);
}

TEST_P(GivebackTest, RejectsLeasesFromAnotherPool) {
  FakePool& mine = MakePool(Caps(2, 2));
  FakePool& other = MakePool(Caps(2, 2));
  FakeLease foreign = other.Get();
  EXPECT_THROW(GiveBack(mine, foreign), std::invalid_argument);
  ASSERT_TRUE(foreign) << "a rejected lease must be left intact";
  EXPECT_EQ(foreign->id(), 1);
  EXPECT_EQ(mine.Stats().open, 0u);
  EXPECT_EQ(other.Stats().in_use, 1u);
  EXPECT_EQ(registry_->closed(), 0);
}

INSTANTIATE_TEST_SUITE_P(PutAndDiscard, GivebackTest, ::testing::Values(How::kPut, How::kDiscard),
                         [](const ::testing::TestParamInfo<How>& info) {
                           return std::string(info.param == How::kPut ? "Put" : "Discard");
                         });

// --- Take-out checks ---

TEST_F(ChannelPoolTest, NeverHandsOutAnObjectPastIdleTimeout) {
  PoolOptions options = Caps(2, 2);
  options.idle_timeout = Ms(50);
  FakePool& pool = MakePool(options);
  { FakeLease lease = pool.Get(); }
  std::this_thread::sleep_for(Ms(80));
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 2);
  EXPECT_EQ(registry_->CloseCount(1), 1);
  EXPECT_EQ(pool.Stats().closed_idle_timeout, 1u);
}

TEST_F(ChannelPoolTest, IdleTimeoutCountsFromTheLastReturn) {
  PoolOptions options = Caps(2, 2);
  options.idle_timeout = Ms(100);
  FakePool& pool = MakePool(options);
  FakeLease lease = pool.Get();
  std::this_thread::sleep_for(Ms(150));  // lent out for longer than idle_timeout
  pool.Put(std::move(lease));
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again->id(), 1);
  EXPECT_EQ(pool.Stats().closed_idle_timeout, 0u);
}

TEST_F(ChannelPoolTest, MaxLifetimeCountsFromCreation) {
  PoolOptions options = Caps(2, 2);
  options.max_lifetime = Ms(200);
  FakePool& pool = MakePool(options);
  FakeLease lease = pool.Get();
  std::this_thread::sleep_for(Ms(80));
  pool.Put(std::move(lease));
  lease = pool.Get(Ms(0));
  ASSERT_EQ(lease->id(), 1) << "closed before its lifetime";
  std::this_thread::sleep_for(Ms(150));  // about 230 ms since creation, returned just now
  pool.Put(std::move(lease));
  FakeLease fresh = pool.Get(Ms(0));
  EXPECT_EQ(fresh->id(), 2);
  EXPECT_EQ(registry_->CloseCount(1), 1);
  EXPECT_EQ(pool.Stats().closed_max_lifetime, 1u);
}

TEST_F(ChannelPoolTest, FailedPingClosesTheObjectAndTriesTheNext) {
  FakePool& pool = MakePool(PingEveryTakeOut(WithInitialCap(3, 3)), Pingers::kTakeOut);
  registry_->Kill(1);
  registry_->Kill(2);
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 3) << "a dead object was handed out";
  EXPECT_EQ(registry_->created(), 3) << "created a new object while a good one was idle";
  EXPECT_EQ(pool.Stats().closed_broken + 1,
            static_cast<std::uint64_t>(registry_->take_out_pings()));

  registry_->Kill(3);
  pool.Put(std::move(lease));
  FakeLease fresh = pool.Get(Ms(0));  // every idle one is dead now: a new one is made
  EXPECT_EQ(fresh->id(), 4);
  EXPECT_EQ(pool.Stats().closed_broken, 3u);
  EXPECT_EQ(pool.Stats().idle, 0u);
}

TEST_F(ChannelPoolTest, APingerExceptionMeansDead) {
  FakePool& pool = MakePool(PingEveryTakeOut(Caps(2, 2)), Pingers::kTakeOut);
  { FakeLease lease = pool.Get(); }
  registry_->SetPingHook([] { throw std::runtime_error("ping exploded"); });
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 2);
  EXPECT_EQ(pool.Stats().closed_broken, 1u);
}

TEST_F(ChannelPoolTest, ZeroPingSkipWindowPingsEveryTakeOutOfAnIdleObject) {
  FakePool& pool = MakePool(PingEveryTakeOut(Caps(2, 2)), Pingers::kTakeOut);
  for (int i = 0; i < 3; ++i) {
    FakeLease lease = pool.Get(Ms(0));
    EXPECT_EQ(lease->id(), 1);
  }
  EXPECT_EQ(registry_->take_out_pings(), 2) << "the 2 take-outs of the idle object";
}

TEST_F(ChannelPoolTest, PingSkipWindowSkipsThePingOnlyForRecentlyReturnedObjects) {
  PoolOptions options = Caps(2, 2);
  options.ping_skip_window = Ms(300);
  FakePool& pool = MakePool(options, Pingers::kTakeOut);
  { FakeLease lease = pool.Get(); }
  { FakeLease lease = pool.Get(Ms(0)); }
  EXPECT_EQ(registry_->take_out_pings(), 0) << "returned just now: no ping expected";
  std::this_thread::sleep_for(Ms(400));
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 1);
  EXPECT_EQ(registry_->take_out_pings(), 1) << "returned 400 ms ago: must be pinged";
}

// --- max_idle ---

TEST_F(ChannelPoolTest, AReturnWhileMaxIdleAreIdleClosesTheObject) {
  FakePool& pool = MakePool(Caps(3, 1));
  FakeLease first = pool.Get();
  FakeLease second = pool.Get();
  pool.Put(std::move(first));
  EXPECT_EQ(pool.Len(), 1u);
  pool.Put(std::move(second));
  EXPECT_EQ(pool.Len(), 1u);
  EXPECT_EQ(pool.Stats().closed_max_idle, 1u);
  EXPECT_EQ(registry_->CloseCount(2), 1);
}

// --- Waiting ---

TEST_F(ChannelPoolTest, WaitersAreServedInFifoOrder) {
  constexpr int kWaiters = 4;
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::future<void>> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(std::async(std::launch::async, [&pool, &mu, &order, i] {
      FakeLease lease = pool.Get(Ms(5000));
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    }));  // the lease goes back at the end, to the next waiter
    ASSERT_TRUE(WaitForWaiters(pool, i + 1)) << "waiter " << i << " is not waiting";
  }
  pool.Put(std::move(held));
  for (auto& waiter : waiters) waiter.get();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(pool.Stats().wait_count, static_cast<std::uint64_t>(kWaiters));
  EXPECT_EQ(registry_->created(), 1);
}

TEST_F(ChannelPoolTest, APutServesAWaiter) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  EXPECT_EQ(ServeWaiterAfter(pool, [&] { pool.Put(std::move(held)); }), 1);
  EXPECT_EQ(pool.Stats().wait_count, 1u);
}

TEST_F(ChannelPoolTest, ADiscardLetsAWaiterCreate) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  EXPECT_EQ(ServeWaiterAfter(pool, [&] { pool.Discard(std::move(held)); }), 2);
  EXPECT_EQ(pool.Stats().closed_broken, 1u);
}

TEST_F(ChannelPoolTest, ClosingAnExpiredObjectLetsAWaiterCreate) {
  PoolOptions options = Caps(1, 1);
  options.max_lifetime = Ms(100);
  FakePool& pool = MakePool(options);
  FakeLease held = pool.Get();
  const int served = ServeWaiterAfter(pool, [&] {
    std::this_thread::sleep_for(Ms(150));
    pool.Put(std::move(held));  // expired: closed, not handed over
  });
  EXPECT_EQ(served, 2);
  EXPECT_EQ(pool.Stats().closed_max_lifetime, 1u);
}

TEST_F(ChannelPoolTest, AFailedCreateLetsAWaiterCreate) {
  FakePool& pool = MakePool(Caps(1, 1));
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  registry_->SetCreateHook([opened, registry = registry_.get()] {
    if (registry->factory_calls() == 1) {
      opened.wait_for(Ms(5000));
      throw FakeDialError("slow dial failed");
    }
  });
  auto failing = std::async(std::launch::async, [&pool] { return pool.Get(Ms(5000)); });
  ASSERT_TRUE(WaitUntil([&] { return pool.Stats().creating == 1; }));
  EXPECT_EQ(ServeWaiterAfter(pool, [&] { gate.set_value(); }), 1);
  EXPECT_THROW(failing.get(), FakeDialError);
  EXPECT_EQ(pool.Stats().create_failures, 1u);
}

TEST_F(ChannelPoolTest, GetTimesOutAfterAboutTheWaitAndCountsTheWait) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  const double waited = ExpectTimeout([&] { pool.Get(Ms(100)); }, Ms(100));
  PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.wait_count, 1u);
  EXPECT_EQ(stats.wait_timeouts, 1u);
  EXPECT_GE(stats.wait_duration, Ms(90));
  EXPECT_LE(stats.wait_duration, (std::chrono::duration<double, std::milli>(waited)));
  EXPECT_EQ(stats.max_wait_duration, stats.wait_duration);

  EXPECT_EQ(ServeWaiterAfter(pool, [&] { pool.Put(std::move(held)); }), 1);
  stats = pool.Stats();
  EXPECT_EQ(stats.wait_count, 2u);
  EXPECT_EQ(stats.wait_timeouts, 1u);
  EXPECT_GT(stats.wait_duration, stats.max_wait_duration) << "the second wait was not added";
  EXPECT_GE(stats.max_wait_duration, Ms(90));
}

TEST_F(ChannelPoolTest, GetWithZeroWaitFailsAtOnceWhenNothingIsFree) {
  FakePool& pool = MakePool(Caps(1, 1));  // wait_timeout stays at its 5 s default
  FakeLease held = pool.Get();
  const auto start = Clock::now();
  EXPECT_THROW(pool.Get(Ms(0)), PoolTimeoutError);
  EXPECT_LT(MsSince(start), 1000.0);
  EXPECT_EQ(pool.Stats().wait_timeouts, 1u);
}

// --- Factory and closer errors ---

TEST_F(ChannelPoolTest, AFactoryErrorReachesTheCallerUnchangedAndFreesTheSlot) {
  FakePool& pool = MakePool(Caps(1, 1));
  registry_->SetCreateHook([registry = registry_.get()] {
    if (registry->factory_calls() == 1) throw DialRefused("refused: 127.0.0.1:1");
    if (registry->factory_calls() == 2) throw 42;  // not even a std::exception
  });
  try {
    pool.Get();
    FAIL() << "no exception";
  } catch (const DialRefused& e) {
    EXPECT_STREQ(e.what(), "refused: 127.0.0.1:1");
  }
  EXPECT_THROW(pool.Get(), int);
  PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.create_failures, 2u);
  EXPECT_EQ(stats.creating, 0u);
  EXPECT_EQ(stats.open, 0u);
  FakeLease lease = pool.Get(Ms(0));  // the slot is free: no wait
  EXPECT_EQ(lease->id(), 1);
}

TEST_F(ChannelPoolTest, AFactoryReturningNullIsAnErrorThatFreesTheSlot) {
  FakePool pool(
      Caps(1, 1), [] { return std::unique_ptr<FakeConn>(); }, registry_->Closer());
  EXPECT_THROW(pool.Get(Ms(0)), std::runtime_error);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.creating, 0u);
  EXPECT_EQ(stats.open, 0u);
  EXPECT_EQ(InvariantViolation(stats), "");
  EXPECT_THROW(pool.Get(Ms(0)), std::runtime_error) << "must fail the same way, not time out";
}

TEST_F(ChannelPoolTest, ACloserExceptionIsSwallowedAndCounted) {
  FakePool& pool = MakePool(Caps(2, 2));
  registry_->SetCloseHook([] { throw std::runtime_error("close failed"); });
  FakeLease lease = pool.Get();
  EXPECT_NO_THROW(pool.Discard(std::move(lease)));
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.close_errors, 1u);
  EXPECT_EQ(stats.closed, 1u);
  EXPECT_EQ(registry_->destroyed(), 1) << "the object must be destroyed even if its closer threw";
  registry_->SetCloseHook(nullptr);
}

// --- Release ---

TEST_F(ChannelPoolTest, ReleaseClosesIdleObjectsAndFailsLaterGets) {
  FakePool& pool = MakePool(WithInitialCap(2, 3));
  FakeLease out = pool.Get();
  const int out_id = out->id();
  pool.Release();
  PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.idle, 0u);
  EXPECT_EQ(stats.closed_on_release, 1u);
  EXPECT_EQ(registry_->closed(), 1);
  EXPECT_EQ(out->id(), out_id) << "a lease out at Release stays usable";
  EXPECT_THROW(pool.Get(), PoolClosedError);
  EXPECT_THROW(pool.Get(Ms(0)), PoolClosedError);
  EXPECT_THROW(pool.GetFresh(), PoolClosedError);
  EXPECT_EQ(registry_->factory_calls(), 2) << "nothing may be created after Release";
}

TEST_F(ChannelPoolTest, ReleaseIsIdempotent) {
  FakePool& pool = MakePool(WithInitialCap(2, 2));
  pool.Release();
  const PoolStats first = pool.Stats();
  EXPECT_NO_THROW(pool.Release());
  const PoolStats second = pool.Stats();
  EXPECT_EQ(second.closed, first.closed);
  EXPECT_EQ(second.closed_on_release, 2u);
  EXPECT_EQ(registry_->closed(), 2);
}

TEST_F(ChannelPoolTest, DestructionReleases) {
  MakePool(WithInitialCap(2, 2));
  DestroyPools();
  EXPECT_EQ(registry_->closed(), 2);
  EXPECT_EQ(registry_->destroyed(), 2);
}

// --- GetFresh ---

TEST_F(ChannelPoolTest, GetFreshCreatesANewObjectEvenWhenOneIsIdle) {
  FakePool& pool = MakePool(Caps(4, 4));
  { FakeLease lease = pool.Get(); }
  FakeLease fresh = pool.GetFresh();
  EXPECT_EQ(fresh->id(), 2);
  EXPECT_EQ(pool.Len(), 1u);
  EXPECT_EQ(pool.Stats().closed, 0u);
}

TEST_F(ChannelPoolTest, GetFreshAtMaxCapClosesAnIdleObjectToMakeRoom) {
  FakePool& pool = MakePool(WithInitialCap(2, 2));
  FakeLease fresh = pool.GetFresh(Ms(0));
  EXPECT_EQ(fresh->id(), 3);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.closed_replaced, 1u);
  EXPECT_EQ(stats.open, 2u);
  EXPECT_EQ(stats.idle, 1u);
}

TEST_F(ChannelPoolTest, GetFreshWaitsWhenNothingCanMakeRoom) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  ExpectTimeout([&] { pool.GetFresh(Ms(100)); }, Ms(100));
  EXPECT_EQ(registry_->factory_calls(), 1);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
