// Scenario 9, quiet hours: the server closes connections idle for 300 ms (as load balancers and
// servers with an idle cut-off do), and the pool sits idle for 500 ms. The first call afterwards
// must succeed at its first attempt, whether the background keepalive or the take-out probe is
// the one that meets the dead connections.
#include <gtest/gtest.h>
#include <thriftpool/user_server.h>

#include <string>

#include "fault_support.h"

namespace thriftpool::faults {
namespace {

constexpr milliseconds kServerIdleCut(300);
// Past the server's cut, and clear of its second one: connections the keepalive made to replace
// the cut ones (within one interval of the cut) are themselves cut 300 ms later, from 600 ms on.
// With 600 ms the first call met them being cut, unprobed within ping_skip_window: 3 of 60 runs
// failed.
constexpr milliseconds kQuietTime(500);
constexpr std::size_t kIdle = 4;

example::UserServerOptions ServerWithIdleCut() {
  example::UserServerOptions options;
  options.idle_timeout = kServerIdleCut;
  return options;
}

class QuietHoursTest : public ServerAndPoolTest {
 protected:
  QuietHoursTest() : ServerAndPoolTest(ServerWithIdleCut(), kIdle) {}

  // One non-idempotent call: it must succeed at once, with no retry to hide a dead connection.
  void ExpectFirstCallSucceedsWithoutRetry(UserPool& pool) {
    example::User user;
    ASSERT_NO_THROW(user = GetUser(pool, 42, CallOptions{}));
    EXPECT_TRUE(IsUser(user, 42));
    EXPECT_EQ(pool.Stats().retries, 0u);
  }

  void ReportStats(const std::string& name, const PoolStats& stats) {
    ReportFigure(name, "closed_broken " + std::to_string(stats.closed_broken) + ", created " +
                           std::to_string(stats.created) + ", idle " + std::to_string(stats.idle) +
                           ", server connections " + std::to_string(server_.connection_count()));
  }
};

// Keepalive with the socket probe only: the background check finds the connections the server
// closed and min_idle replaces them, all before any caller comes.
TEST_F(QuietHoursTest, BackgroundCheckReplacesConnectionsTheServerClosed) {
  pool_options_.keepalive_interval = milliseconds(100);
  pool_options_.min_idle = kIdle;
  UserPool pool(client_, pool_options_);
  ASSERT_TRUE(WaitFor([&] { return pool.Len() == kIdle; }, milliseconds(2000)));
  std::this_thread::sleep_for(kQuietTime);

  const PoolStats before = pool.Stats().pool;
  ReportStats("before_first_call", before);
  EXPECT_GE(before.closed_broken, kIdle) << "the background check missed the server's closes";
  EXPECT_GT(before.created, kIdle) << "min_idle did not replace the dead connections";
  ExpectFirstCallSucceedsWithoutRetry(pool);
}

// Keepalive with a real round trip (ping): the connections never stay quiet long enough for the
// server to cut them, so nothing dies and nothing is recreated.
TEST_F(QuietHoursTest, KeepalivePingsKeepConnectionsOpen) {
  pool_options_.keepalive_interval = milliseconds(100);
  UserPool pool(client_, pool_options_, [](example::UserServiceClient& client) { client.ping(); });
  FillIdle(pool, kIdle);
  ASSERT_FALSE(HasFatalFailure());
  std::this_thread::sleep_for(kQuietTime);

  const PoolStats before = pool.Stats().pool;
  ReportStats("before_first_call", before);
  EXPECT_EQ(before.closed_broken, 0u);
  EXPECT_EQ(before.created, kIdle);
  EXPECT_EQ(server_.connection_count(), kIdle);
  ExpectFirstCallSucceedsWithoutRetry(pool);
}

// No background work at all: the take-out probe meets the dead connections, discards each, and
// the call goes out on a new one.
TEST_F(QuietHoursTest, TakeOutProbeDiscardsConnectionsTheServerClosed) {
  UserPool pool(client_, pool_options_);
  FillIdle(pool, kIdle);
  ASSERT_FALSE(HasFatalFailure());
  std::this_thread::sleep_for(kQuietTime);

  ASSERT_EQ(server_.connection_count(), 0u) << "the server did not cut the idle connections";
  ASSERT_EQ(pool.Stats().pool.closed_broken, 0u) << "nothing should have looked at them yet";
  ExpectFirstCallSucceedsWithoutRetry(pool);
  const PoolStats after = pool.Stats().pool;
  ReportStats("after_first_call", after);
  EXPECT_EQ(after.closed_broken, kIdle);
  EXPECT_EQ(after.created, kIdle + 1);
}

}  // namespace
}  // namespace thriftpool::faults
