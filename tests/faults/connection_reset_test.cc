// Connections destroyed under the pool: while idle (scenario 1) and under load (scenario 2).
// Two ways of killing them: `ss -K` destroys the client's sockets as a firewall or conntrack
// flush would, and UserServer::KillConnections resets them from the server's side.
#include <gtest/gtest.h>
#include <thriftpool/user_server.h>

#include <functional>
#include <string>

#include "fault_support.h"

namespace thriftpool::faults {
namespace {

constexpr std::size_t kIdle = 8;

class ConnectionResetTest : public ServerAndPoolTest {
 protected:
  ConnectionResetTest() : ServerAndPoolTest(example::UserServerOptions{}, kIdle) {}

  // Fills `pool` with kIdle idle connections and kills them all with `kill`.
  void FillAndKill(UserPool& pool, const std::function<void()>& kill) {
    FillIdle(pool, kIdle);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(WaitFor([&] { return server_.connection_count() == kIdle; }, milliseconds(2000)));
    kill();
    // The server seeing every connection gone proves that all kIdle are dead before any call.
    ASSERT_TRUE(WaitFor([&] { return server_.connection_count() == 0; }, milliseconds(2000)))
        << server_.connection_count() << " connections survived the kill";
    ASSERT_EQ(pool.Len(), kIdle) << "nothing should have noticed the deaths yet";
  }

  // With the probe on every take-out (ping_skip_window 0): fills the pool, kills every
  // connection with `kill`, and checks that the next 1000 calls succeed at their first attempt
  // (non-idempotent calls, and no retry counted: the probe must catch every dead one) and that
  // exactly the dead ones were closed as broken.
  void ExpectIdleResetHealed(const std::function<void()>& kill) {
    pool_options_.ping_skip_window = milliseconds(0);
    UserPool pool(client_, pool_options_);
    FillAndKill(pool, kill);
    ASSERT_FALSE(HasFatalFailure());

    const Stopwatch calls;
    for (std::int64_t id = 1; id <= 1000; ++id) {
      example::User user;
      ASSERT_NO_THROW(user = GetUser(pool, id, CallOptions{})) << "call " << id;
      ASSERT_TRUE(IsUser(user, id));
    }
    const ClientPoolStats stats = pool.Stats();
    ReportFigure("after_idle_reset", "1000 calls in " + std::to_string(calls.Elapsed().count()) +
                                         " ms, closed_broken " +
                                         std::to_string(stats.pool.closed_broken) + ", retries " +
                                         std::to_string(stats.retries) + ", created " +
                                         std::to_string(stats.pool.created));
    EXPECT_EQ(stats.pool.closed_broken, kIdle);
    EXPECT_EQ(stats.retries, 0u);
    EXPECT_EQ(stats.pool.created, kIdle + 1) << "one replacement serves the serial calls";
  }
};

TEST_F(ConnectionResetTest, IdleConnectionsKilledBySsAreReplaced) {
  if (!SocketKillUnavailableReason().empty()) GTEST_SKIP() << SocketKillUnavailableReason();
  ExpectIdleResetHealed([&] { ASSERT_TRUE(KillSocketsTo(server_.port())); });
}

TEST_F(ConnectionResetTest, IdleConnectionsResetByTheServerAreReplaced) {
  ExpectIdleResetHealed([&] { server_.KillConnections(); });
}

// With the default ping_skip_window, connections returned just before they were reset are handed
// out unprobed. A reset socket fails the write before any byte leaves, so even non-idempotent
// calls are retried safely: none fails, and retries find and close the dead ones.
TEST_F(ConnectionResetTest, ResetsWithinThePingSkipWindowCostRetriesNotFailures) {
  ASSERT_GT(pool_options_.ping_skip_window, milliseconds(0)) << "the default window is on";
  UserPool pool(client_, pool_options_);
  FillAndKill(pool, [&] { server_.KillConnections(); });
  ASSERT_FALSE(HasFatalFailure());
  for (std::int64_t id = 1; id <= 100; ++id) {
    example::User user;
    ASSERT_NO_THROW(user = GetUser(pool, id, CallOptions{})) << "call " << id;
    ASSERT_TRUE(IsUser(user, id));
  }
  const ClientPoolStats stats = pool.Stats();
  ReportFigure("reset_within_skip_window", "100 calls: retries " + std::to_string(stats.retries) +
                                               ", closed_broken " +
                                               std::to_string(stats.pool.closed_broken));
  EXPECT_GT(stats.retries, 0u) << "the dead connections were handed out unprobed";
  EXPECT_EQ(stats.pool.closed_broken, stats.retries);
  EXPECT_EQ(stats.retries_denied, 0u);
}

// 4 threads of idempotent getUser for 10 s while every connection is destroyed every 200 ms:
// every call must succeed (the retries absorb each kill) and every answer must be right.
TEST_F(ConnectionResetTest, ResetsUnderLoadFailNoIdempotentCall) {
  const bool can_kill_sockets = SocketKillUnavailableReason().empty();
  if (!can_kill_sockets) {
    ReportFigure("note", "ss -K unavailable (" + SocketKillUnavailableReason() +
                             "): server-side resets only");
  }
  UserPool pool(client_, pool_options_);
  GetUserLoad load(
      4, [&](example::User& user, std::int64_t id) { user = GetUser(pool, id, kIdempotent); });
  int kills = 0;
  const Stopwatch run;
  while (run.Elapsed() < Millis(10000)) {
    std::this_thread::sleep_for(milliseconds(200));
    if (can_kill_sockets && kills % 2 == 0) {
      EXPECT_TRUE(KillSocketsTo(server_.port()));
    } else {
      server_.KillConnections();
    }
    ++kills;
  }
  const CallOutcomes outcomes = load.Stop();
  const ClientPoolStats stats = pool.Stats();
  ReportFigure("reset_under_load", std::to_string(kills) + " kills; " + outcomes.Summary() +
                                       "; retries " + std::to_string(stats.retries) +
                                       ", closed_broken " +
                                       std::to_string(stats.pool.closed_broken));
  EXPECT_EQ(outcomes.failed(), 0u) << outcomes.Summary();
  EXPECT_EQ(outcomes.wrong, 0u) << outcomes.Summary();
  EXPECT_GT(outcomes.ok, 1000u) << outcomes.Summary();
  // Proof that the faults landed: connections died and calls had to be retried.
  EXPECT_GE(stats.pool.closed_broken, static_cast<std::uint64_t>(kills) / 2);
  EXPECT_GT(stats.retries, 0u);
}

}  // namespace
}  // namespace thriftpool::faults
