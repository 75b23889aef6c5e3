// Test doubles and helpers shared by the generic pool's unit tests.
//
// FakeConn is the pooled object; FakeRegistry makes the factory, closer and pingers and counts
// what they did per object id, so each test can end with "every created object was closed exactly
// once". PoolTest is the fixture: it makes pools, and its TearDown checks the stats invariants and
// the registry.
#ifndef THRIFTPOOL_TESTS_POOL_POOL_TEST_UTIL_H_
#define THRIFTPOOL_TESTS_POOL_POOL_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <thriftpool/channel_pool.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace thriftpool {
namespace pooltest {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

class FakeRegistry;

// The pooled object: an id (1, 2, ... in creation order) tied to the registry that counts it.
class FakeConn {
 public:
  FakeConn(int id, std::shared_ptr<FakeRegistry> registry);
  FakeConn(const FakeConn&) = delete;
  FakeConn& operator=(const FakeConn&) = delete;
  ~FakeConn();

  int id() const { return id_; }

 private:
  const int id_;
  const std::shared_ptr<FakeRegistry> registry_;
};

using FakePool = ChannelPool<FakeConn>;
using FakeLease = Lease<FakeConn>;

// What the fake factory throws when told to fail.
class FakeDialError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Makes the pool's callbacks and records what they did. Thread-safe.
class FakeRegistry : public std::enable_shared_from_this<FakeRegistry> {
 public:
  using Hook = std::function<void()>;

  FakePool::Factory Factory();
  FakePool::Closer Closer();
  FakePool::Pinger TakeOutPinger();
  FakePool::Pinger KeepalivePinger();

  // Knobs, settable at any time. A hook runs inside the callback (without the registry's lock),
  // may sleep or throw; the create hook runs before the object exists, the close hook after the
  // close was counted.
  void SetCreateHook(Hook hook);
  void SetCloseHook(Hook hook);
  void SetPingHook(Hook hook);
  // The next `n` factory calls throw FakeDialError("fake dial failed").
  void FailNextCreates(int n) { fail_next_ += n; }
  // Every factory call throws FakeDialError while set.
  void SetAlwaysFail(bool fail) { always_fail_ = fail; }
  // Both pingers report object `id` dead from now on.
  void Kill(int id);

  int factory_calls() const { return factory_calls_; }
  int created() const { return created_; }
  int closed() const { return closed_; }
  int destroyed() const { return destroyed_; }
  int live() const { return live_; }
  int max_live() const { return max_live_; }
  int take_out_pings() const { return take_out_pings_; }
  int keepalive_pings() const { return keepalive_pings_; }
  int CloseCount(int id) const;
  // Time from creation to the closer call of each closed object.
  std::vector<Clock::duration> LifeSpans() const;

  // Non-fatal expectations for the end of a test: every created object was closed exactly once
  // and destroyed, and nothing else was closed.
  void ExpectEachClosedOnce() const;

 private:
  friend class FakeConn;
  struct Record {
    Clock::time_point created_at;
    Clock::time_point closed_at;
    int closes = 0;
  };

  std::unique_ptr<FakeConn> Create();
  void Close(FakeConn& conn);
  bool Ping(FakeConn& conn, std::atomic<int>& counter);
  Hook GetHook(const Hook& hook) const;

  mutable std::mutex mu_;
  std::map<int, Record> records_;  // guarded by mu_
  std::set<int> dead_;             // guarded by mu_
  Hook create_hook_;               // guarded by mu_
  Hook close_hook_;                // guarded by mu_
  Hook ping_hook_;                 // guarded by mu_
  int unknown_closes_ = 0;         // guarded by mu_

  std::atomic<int> fail_next_{0};
  std::atomic<bool> always_fail_{false};
  std::atomic<int> factory_calls_{0};
  std::atomic<int> next_id_{1};
  std::atomic<int> created_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> destroyed_{0};
  std::atomic<int> live_{0};
  std::atomic<int> max_live_{0};
  std::atomic<int> take_out_pings_{0};
  std::atomic<int> keepalive_pings_{0};
};

// Options with the given caps and everything else at its default.
PoolOptions Caps(std::size_t max_cap, std::size_t max_idle);

// `options` with ping_skip_window 0: the take-out pinger runs on every take-out.
PoolOptions PingEveryTakeOut(PoolOptions options);

// "" when the documented PoolStats invariants hold, else a description of the first broken one.
std::string InvariantViolation(const PoolStats& stats);

// Polls `done` every millisecond until it is true (returns true) or `limit` passes (false).
bool WaitUntil(const std::function<bool()>& done, Ms limit = Ms(3000));

// Runs `scenario` in another thread and waits up to `limit` for it. Exceptions it throws are
// rethrown here. Returns false if it did not finish in time (then the thread is left behind,
// detached: whatever it uses must be leaked, see PoolTest::AbandonPools).
bool RunWithWatchdog(std::function<void()> scenario, Ms limit = Ms(5000));

// Milliseconds since `start`.
double MsSince(Clock::time_point start);

// Fixture: makes pools over a fresh registry; TearDown checks the stats invariants, releases the
// pools, and checks that every created object was closed exactly once.
class PoolTest : public ::testing::Test {
 protected:
  enum class Pingers {
    kNone,       // no pinger
    kTakeOut,    // registry_->TakeOutPinger() for take-out and keepalive
    kSeparate,   // TakeOutPinger() on take-out, KeepalivePinger() in the background
    kKeepalive,  // no take-out pinger, KeepalivePinger() in the background
  };

  FakePool& MakePool(const PoolOptions& options, Pingers pingers = Pingers::kNone);
  // A pool the test owns (e.g. one per round, or one whose constructor must throw). TearDown
  // still checks the registry, but cannot compare it with this pool's stats.
  std::unique_ptr<FakePool> MakeOwnPool(const PoolOptions& options);
  // Destroys the pools now (leases still out stay valid and close their objects when they end).
  void DestroyPools();
  // After a watchdog expired: leaks the pools (a stuck thread may still use them) and skips the
  // end-of-test checks.
  void AbandonPools();
  // Waits (bounded) until `pool` has `n` waiting Get calls; false if it never does.
  bool WaitForWaiters(const FakePool& pool, std::size_t n);
  // With max_cap reached: starts a Get(5 s) in another thread, waits until it is waiting and
  // then `settle` more (long waiters may be handed objects directly, short ones woken to retry),
  // runs `action` (which should free an object or a slot), and returns the id of the object the
  // waiter got, or -1 (with a test failure) if it got none.
  int ServeWaiterAfter(FakePool& pool, const std::function<void()>& action, Ms settle = Ms(20));

  void TearDown() override;

  std::shared_ptr<FakeRegistry> registry_ = std::make_shared<FakeRegistry>();

 private:
  std::vector<std::unique_ptr<FakePool>> pools_;
  bool stats_cover_registry_ = true;  // every pool ever made is still in pools_
  bool abandoned_ = false;
};

}  // namespace pooltest
}  // namespace thriftpool

#endif  // THRIFTPOOL_TESTS_POOL_POOL_TEST_UTIL_H_
