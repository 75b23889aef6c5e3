// The lock-free hot path of pool_core.cc: a Put parks the object for its thread, the thread's next
// Get takes it back. Parked objects must behave as idle ones in every respect: reused before a
// new one is created, handed to waiters, checked, expired, counted and closed by Release, also
// when leases end while the pool is being destroyed.
#include <gtest/gtest.h>
#include <thriftpool/channel_pool.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pool_test_util.h"
#include "thread_number.h"

namespace thriftpool {
namespace pooltest {
namespace {

class ParkingTest : public PoolTest {
 protected:
  // A min_idle 1 pool at max_cap 2, both objects made up front, one of them parked in this
  // thread's spot.
  FakePool& MinIdlePoolAtMaxCapWithOneParked() {
    PoolOptions options = Caps(2, 2);
    options.min_idle = 1;
    options.initial_cap = 2;
    FakePool& pool = MakePool(options);
    { FakeLease lease = pool.Get(); }
    return pool;
  }
};

// Runs `body` in a new thread that has ended when this returns (its parked object stays parked).
void InAnotherThread(const std::function<void()>& body) { std::thread(body).join(); }

// A thread that lives from one step of a test to the next, so that its thread number does too.
class Worker {
 public:
  Worker() : thread_([this] { Serve(); }) {}
  ~Worker() {
    Post(std::packaged_task<void()>());  // an empty task ends Serve
    thread_.join();
  }
  // Runs `step` on this worker's thread; returns once it has run.
  void Run(std::function<void()> step) {
    std::packaged_task<void()> task(std::move(step));
    std::future<void> done = task.get_future();
    Post(std::move(task));
    done.get();
  }

 private:
  void Post(std::packaged_task<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }
  void Serve() {
    for (;;) {
      std::packaged_task<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return !tasks_.empty(); });
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      if (!task.valid()) return;
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> tasks_;  // guarded by mu_
  std::thread thread_;                            // last: Serve uses the members above
};

TEST_F(ParkingTest, APutObjectCountsAsIdleAndComesBackToItsThread) {
  FakePool& pool = MakePool(Caps(4, 4));
  FakeLease lease = pool.Get();
  FakeConn* object = lease.get();
  pool.Put(std::move(lease));
  EXPECT_EQ(pool.Len(), 1u);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.idle, 1u);
  EXPECT_EQ(stats.in_use, 0u);
  EXPECT_EQ(stats.open, 1u);
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again.get(), object);
  EXPECT_EQ(pool.Stats().in_use, 1u);
  EXPECT_EQ(registry_->created(), 1);
}

TEST_F(ParkingTest, AnObjectParkedByAnotherThreadIsReusedRatherThanANewOneCreated) {
  FakePool& pool = MakePool(Caps(4, 4));
  InAnotherThread([&] { FakeLease lease = pool.Get(); });
  ASSERT_EQ(pool.Len(), 1u);
  FakeLease mine = pool.Get(Ms(0));
  EXPECT_EQ(mine->id(), 1);
  EXPECT_EQ(registry_->created(), 1);
}

TEST_F(ParkingTest, AtMaxCapAGetTakesObjectsParkedByOtherThreads) {
  FakePool& pool = MakePool(Caps(2, 2));
  InAnotherThread([&] {
    FakeLease first = pool.Get();
    FakeLease second = pool.Get();
  });  // one parked in that thread's spot, the other on the idle stack
  FakeLease a = pool.Get(Ms(0));
  FakeLease b = pool.Get(Ms(0));
  EXPECT_NE(a->id(), b->id());
  EXPECT_EQ(registry_->created(), 2);
  EXPECT_THROW(pool.Get(Ms(0)), PoolTimeoutError);
}

// Spots belong to thread numbers, not to objects: two threads whose numbers are equal modulo
// max_cap (which shared a spot when a pool had one per object) each get back the object they
// returned, with the other's parked at the same time.
TEST_F(ParkingTest, ThreadsWhoseNumbersAreEqualModuloMaxCapKeepTheirOwnObjects) {
  constexpr std::size_t kMaxCap = 2;
  // Of any three live threads, two have numbers equal modulo 2.
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::size_t> numbers;
  for (int i = 0; i < 3; ++i) {
    workers.push_back(std::make_unique<Worker>());
    std::size_t number = 0;
    workers.back()->Run([&number] { number = internal::ThisThreadNumber(); });
    numbers.push_back(number);
  }
  std::size_t first = 0;
  std::size_t second = 1;
  if (numbers[0] % kMaxCap != numbers[1] % kMaxCap) {
    second = 2;
    if (numbers[0] % kMaxCap != numbers[2] % kMaxCap) first = 1;
  }
  ASSERT_EQ(numbers[first] % kMaxCap, numbers[second] % kMaxCap);
  const std::size_t apart = numbers[first] > numbers[second] ? numbers[first] - numbers[second]
                                                             : numbers[second] - numbers[first];
  ASSERT_LT(apart, 64u) << "a test process's live threads hold small, dense numbers";
  Worker& a = *workers[first];
  Worker& b = *workers[second];

  FakePool& pool = MakePool(Caps(kMaxCap, kMaxCap));
  FakeLease lease_a;
  FakeLease lease_b;
  a.Run([&] { lease_a = pool.Get(Ms(0)); });
  b.Run([&] { lease_b = pool.Get(Ms(0)); });
  FakeConn* const object_a = lease_a.get();
  FakeConn* const object_b = lease_b.get();
  ASSERT_NE(object_a, object_b);
  for (int round = 0; round < 3; ++round) {
    a.Run([&] { lease_a = FakeLease(); });
    b.Run([&] { lease_b = FakeLease(); });
    ASSERT_EQ(pool.Stats().idle, 2u);
    b.Run([&] { lease_b = pool.Get(Ms(0)); });
    a.Run([&] { lease_a = pool.Get(Ms(0)); });
    EXPECT_EQ(lease_a.get(), object_a) << "round " << round;
    EXPECT_EQ(lease_b.get(), object_b) << "round " << round;
  }
  a.Run([&] { lease_a = FakeLease(); });
  b.Run([&] { lease_b = FakeLease(); });
  EXPECT_EQ(registry_->created(), 2);
}

// A Get about to wait skips the sweep while parking is blocked and the spots were swept since
// (State::spots_clear). Once the wait ends parking resumes, and an object parked then must be
// found again: here by a Get(0), which fails at once if it only looks at the idle stack.
TEST_F(ParkingTest, AfterAWaitEndsAGetStillFindsAnObjectParkedByAnotherThread) {
  FakePool& pool = MakePool(Caps(1, 1));
  FakeLease held = pool.Get();
  auto waiter = std::async(std::launch::async, [&pool] { return pool.Get(Ms(5000))->id(); });
  ASSERT_TRUE(WaitForWaiters(pool, 1));  // parking blocked, the spots swept
  pool.Put(std::move(held));             // to the waiter, whose thread parks it as it ends
  EXPECT_EQ(waiter.get(), 1);
  ASSERT_EQ(pool.Stats().waiting, 0u);
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again->id(), 1);
  EXPECT_EQ(registry_->created(), 1);
}

TEST_F(ParkingTest, GetFreshReplacesAParkedObjectAtMaxCap) {
  FakePool& pool = MakePool(Caps(1, 1));
  { FakeLease lease = pool.Get(); }
  FakeLease fresh = pool.GetFresh(Ms(0));
  EXPECT_EQ(fresh->id(), 2);
  EXPECT_EQ(registry_->CloseCount(1), 1);
  EXPECT_EQ(pool.Stats().closed_replaced, 1u);
}

TEST_F(ParkingTest, TheTakeOutPingerChecksAParkedObject) {
  FakePool& pool = MakePool(PingEveryTakeOut(Caps(2, 2)), Pingers::kTakeOut);
  { FakeLease lease = pool.Get(); }
  registry_->Kill(1);
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 2);
  EXPECT_EQ(pool.Stats().closed_broken, 1u);
}

TEST_F(ParkingTest, AParkedObjectPastMaxLifetimeIsNotHandedOut) {
  PoolOptions options = Caps(2, 2);
  options.max_lifetime = Ms(30);
  options.lifetime_jitter = 0;
  FakePool& pool = MakePool(options);
  { FakeLease lease = pool.Get(); }
  std::this_thread::sleep_for(Ms(50));
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_EQ(lease->id(), 2);
  EXPECT_EQ(pool.Stats().closed_max_lifetime, 1u);
}

TEST_F(ParkingTest, TheUpkeepClosesAParkedObjectPastIdleTimeout) {
  PoolOptions options = Caps(2, 2);
  options.idle_timeout = Ms(20);
  FakePool& pool = MakePool(options);
  { FakeLease lease = pool.Get(); }
  // The upkeep counts the close before it runs the closer: wait for the closer.
  EXPECT_TRUE(WaitUntil([&] { return registry_->CloseCount(1) == 1; }));
  EXPECT_EQ(pool.Stats().closed_idle_timeout, 1u);
  EXPECT_EQ(pool.Len(), 0u);
}

TEST_F(ParkingTest, ReleaseClosesParkedObjects) {
  FakePool& pool = MakePool(Caps(4, 4));
  for (int t = 0; t < 3; ++t) {
    InAnotherThread([&] {
      FakeLease lease = pool.Get();
      FakeLease spare = pool.Get();  // one thread, two objects: one parks, one goes on the stack
    });
  }
  { FakeLease lease = pool.Get(); }
  const int created = registry_->created();
  ASSERT_GE(created, 2);
  pool.Release();
  EXPECT_EQ(registry_->closed(), created);
  EXPECT_EQ(pool.Stats().closed_on_release, static_cast<std::uint64_t>(created));
  EXPECT_EQ(pool.Len(), 0u);
  EXPECT_THROW(pool.Get(Ms(0)), PoolClosedError);
}

// With min_idle, a take-out of a parked object could not ask the upkeep for a refill. At max_cap
// no refill can be made, so Puts park there as with min_idle 0: another thread's Get takes the
// idle object on the stack, not the one this thread just returned. (The upkeep also moves parked
// objects to the stack when it runs: the test starts once its refills are done.)
TEST_F(ParkingTest, AMinIdlePoolAtMaxCapParks) {
  PoolOptions options = Caps(2, 2);
  options.min_idle = 1;
  FakePool& pool = MakePool(options);
  ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "no refill to min_idle";
  FakeLease lease = pool.Get();
  FakeConn* returned = lease.get();
  ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "no refill after the take-out";
  ASSERT_EQ(pool.Stats().open, 2u);
  pool.Put(std::move(lease));
  FakeConn* others = nullptr;
  InAnotherThread([&] {
    FakeLease lease = pool.Get(Ms(0));
    others = lease.get();
  });
  EXPECT_NE(others, returned);
  FakeLease again = pool.Get(Ms(0));
  EXPECT_EQ(again.get(), returned);
  EXPECT_EQ(registry_->created(), 2);
}

// Release while a min_idle pool at max_cap has an object parked: it is closed with the rest, and
// the upkeep makes nothing for min_idle afterwards.
TEST_F(ParkingTest, ReleaseClosesWhatAMinIdlePoolParkedAndRefillsNothing) {
  FakePool& pool = MinIdlePoolAtMaxCapWithOneParked();
  pool.Release();
  EXPECT_EQ(registry_->closed(), 2);
  EXPECT_EQ(pool.Stats().closed_on_release, 2u);
  EXPECT_EQ(pool.Len(), 0u);
  std::this_thread::sleep_for(Ms(50));
  EXPECT_EQ(registry_->created(), 2) << "refilled after Release";
  EXPECT_THROW(pool.Get(Ms(0)), PoolClosedError);
}

// Below max_cap, a take-out of the last idle objects must ask for a refill, so a min_idle pool
// keeps returns on the idle stack, where the next Get of any thread pops them.
TEST_F(ParkingTest, AMinIdlePoolWithRoomDoesNotPark) {
  PoolOptions options = Caps(4, 4);
  options.min_idle = 1;
  FakePool& pool = MakePool(options);
  ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "no refill to min_idle";
  FakeConn* returned = nullptr;
  {
    FakeLease lease = pool.Get();
    returned = lease.get();
    ASSERT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "no refill after the take-out";
  }
  ASSERT_EQ(pool.Stats().open, 2u);
  FakeConn* others = nullptr;
  InAnotherThread([&] {
    FakeLease lease = pool.Get(Ms(0));
    others = lease.get();
  });
  EXPECT_EQ(others, returned);
}

// At max_cap a min_idle pool parks; when a close makes room, parking stops and the upkeep counts
// the parked object as idle (no refill for it), and the next take-out below min_idle is refilled.
TEST_F(ParkingTest, AMinIdlePoolRefillsOnceACloseMakesRoomWhileAnObjectIsParked) {
  FakePool& pool = MinIdlePoolAtMaxCapWithOneParked();
  InAnotherThread([&] {
    FakeLease lease = pool.Get(Ms(0));
    lease.MarkBroken();
  });
  EXPECT_TRUE(WaitUntil([&] { return registry_->closed() == 1; }));
  EXPECT_EQ(pool.Stats().open, 1u);
  EXPECT_EQ(pool.Len(), 1u);
  FakeLease lease = pool.Get(Ms(0));
  EXPECT_TRUE(WaitUntil([&] { return pool.Len() == 1; })) << "not refilled";
  EXPECT_EQ(pool.Stats().open, 2u);
  EXPECT_EQ(registry_->created(), 3);
}

// A Get that waits blocks parking; a Put racing with it must not leave the object parked while
// the waiter sleeps. With one object and four threads, a lost object would show as a timeout.
TEST_F(ParkingTest, AWaiterIsNeverLeftAsleepWhileAnObjectIsParked) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  PoolOptions options = Caps(1, 1);
  options.wait_timeout = Ms(5000);
  FakePool& pool = MakePool(options);
  const auto deadline = Clock::now() + Ms(20000);
  std::promise<void> start;
  std::shared_future<void> started = start.get_future().share();
  std::vector<std::future<int>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(std::async(std::launch::async, [&pool, deadline, started] {
      started.wait();
      int timeouts = 0;
      for (int i = 0; i < kIterations && Clock::now() < deadline; ++i) {
        try {
          FakeLease lease = pool.Get();
          if (i % 4 == 0) std::this_thread::yield();  // let the others find nothing free
        } catch (const PoolTimeoutError&) {
          ++timeouts;
        }
      }
      return timeouts;
    }));
  }
  start.set_value();
  int timeouts = 0;
  for (auto& worker : workers) timeouts += worker.get();
  EXPECT_EQ(timeouts, 0);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.wait_timeouts, 0u);
  EXPECT_EQ(stats.waiting, 0u);
  EXPECT_EQ(registry_->created(), 1);
  EXPECT_GT(stats.wait_count, 0u) << "no Get waited: the race was not exercised";
}

// A lease may outlive its pool. Ending leases while the pool's destructor runs must neither touch
// freed memory (the sanitizer builds check) nor lose an object.
TEST_F(ParkingTest, LeasesEndingWhileThePoolIsDestroyedAreClosedOnce) {
  constexpr int kRounds = 200;
  constexpr int kThreads = 3;
  for (int round = 0; round < kRounds; ++round) {
    std::unique_ptr<FakePool> pool = MakeOwnPool(Caps(kThreads, kThreads));
    std::vector<FakeLease> leases;
    for (int t = 0; t < kThreads; ++t) leases.push_back(pool->Get());
    std::promise<void> start;
    std::shared_future<void> started = start.get_future().share();
    std::vector<std::thread> enders;
    for (FakeLease& lease : leases) {
      enders.emplace_back([started, lease = std::move(lease)]() mutable {
        started.wait();
        lease = FakeLease();  // ends it: parks it, or closes it once the pool is gone
      });
    }
    start.set_value();
    pool.reset();
    for (std::thread& ender : enders) ender.join();
  }
  EXPECT_EQ(registry_->created(), kRounds * kThreads);
  EXPECT_EQ(registry_->closed(), kRounds * kThreads);
  EXPECT_EQ(registry_->live(), 0);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
