// Faults of a whole server process (the user_server binary as a child): a restart on the same
// port after 1 s down (scenario 3), and a server stopped with SIGSTOP for 1 s (scenario 5).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "fault_support.h"

namespace thriftpool::faults {
namespace {

constexpr milliseconds kOutage(1000);

// The failures of calls made while something is down: each one's time and description.
struct Failures {
  std::vector<Millis> latencies;
  std::vector<std::string> descriptions;
  int unexpected_successes = 0;

  Millis slowest() const {
    Millis slowest(0);
    for (const Millis& latency : latencies) slowest = std::max(slowest, latency);
    return slowest;
  }
  // Runs `attempt` (which must fail) and records how.
  template <typename Attempt>
  void Record(Attempt attempt) {
    const Stopwatch call;
    try {
      attempt();
      ++unexpected_successes;
    } catch (...) {
      latencies.push_back(call.Elapsed());
      descriptions.push_back(DescribeCurrentException());
    }
  }
};

// Scenario 3. The server goes away (SIGTERM: it closes every connection) and comes back 1 s later
// on the same port, while 3 threads keep calling. Meanwhile every Get and Call must fail fast
// with the refused connect, never hang; the first call once it is back must succeed; the pool
// must never open more than max_cap; and Release must give back every descriptor.
TEST(ServerProcessTest, RestartOnTheSamePortFailsFastThenRecovers) {
  ServerProcess server(ServerProcess::Options{});
  const int port = server.port();
  ClientOptions client;
  client.port = port;
  client.connect_timeout = milliseconds(1000);
  client.recv_timeout = milliseconds(1000);
  PoolOptions options;
  options.max_cap = 4;
  options.max_idle = 4;
  const int fds_before = OpenFdCount();

  UserPool pool(client, options);
  StatsSampler sampler([&] { return pool.Stats().pool; });
  GetUserLoad load(
      3, [&](example::User& user, std::int64_t id) { user = GetUser(pool, id, kIdempotent); },
      milliseconds(1));
  ASSERT_TRUE(WaitFor([&] { return load.ok_so_far() >= 200; }, milliseconds(5000)));

  const std::optional<int> status = server.Terminate();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "user_server did not exit with 0 on SIGTERM";
  Failures outage;
  for (const Stopwatch down; down.Elapsed() < Millis(kOutage);) {
    outage.Record([&] { GetUser(pool, 1, kIdempotent); });
    outage.Record([&] { pool.Get(); });
    std::this_thread::sleep_for(milliseconds(20));
  }
  server.Restart();
  ASSERT_EQ(server.port(), port);

  example::User user;
  ASSERT_NO_THROW(user = GetUser(pool, 77, kIdempotent)) << "the first call after the restart";
  EXPECT_TRUE(IsUser(user, 77));
  const std::uint64_t ok_at_restart = load.ok_so_far();
  EXPECT_TRUE(WaitFor([&] { return load.ok_so_far() >= ok_at_restart + 200; }, milliseconds(3000)))
      << "the load did not recover";
  const CallOutcomes outcomes = load.Stop();
  sampler.Stop();

  ReportFigure("outage", std::to_string(outage.latencies.size()) +
                             " Get/Call attempts failed, slowest " +
                             std::to_string(outage.slowest().count()) + " ms; e.g. " +
                             (outage.descriptions.empty() ? "-" : outage.descriptions.front()));
  ReportFigure("load_through_restart",
               outcomes.Summary() + "; max open " + std::to_string(sampler.max_open()) +
                   ", max open+creating+closing " + std::to_string(sampler.max_committed()) +
                   " over " + std::to_string(sampler.samples()) + " samples");
  EXPECT_EQ(outage.unexpected_successes, 0);
  EXPECT_GE(outage.latencies.size(), 40u);
  EXPECT_LT(outage.slowest(), Loose(Millis(100))) << "a call hung instead of failing fast";
  for (const std::string& description : outage.descriptions) {
    ASSERT_NE(description.find("Connection refused"), std::string::npos) << description;
  }
  EXPECT_EQ(outcomes.wrong, 0u) << outcomes.Summary();
  EXPECT_LT(outcomes.max_failure_latency, Loose(Millis(100))) << outcomes.Summary();
  for (const auto& [cause, count] : outcomes.failures_by_cause) {
    EXPECT_EQ(cause.rfind("TTransportException", 0), 0u) << cause << " x" << count;
  }
  EXPECT_LE(sampler.max_committed(), options.max_cap);

  pool.Release();
  const int fds_after = OpenFdCount();
  ReportFigure("fds", std::to_string(fds_before) + " before the pool, " +
                          std::to_string(fds_after) + " after Release");
  EXPECT_LE(fds_after, fds_before);
}

// Scenario 5. The server is stopped (SIGSTOP) for 1 s: the kernel still accepts connections and
// takes requests, nobody answers. Non-idempotent calls (no retry to hide anything) must fail at
// the 200 ms receive timeout; after SIGCONT the late replies must never be taken for answers, and
// every connection that timed out must have been discarded. Right after SIGCONT the server first
// works through the requests queued during the stall; a slowed-down server (under a sanitizer) may
// take longer than the receive timeout for that, so a call may then time out, but never answer
// wrongly.
TEST(ServerProcessTest, StalledServerTimesOutThenNoWrongAnswers) {
  constexpr milliseconds kRecvTimeout(200);
  ServerProcess server(ServerProcess::Options{});
  ClientOptions client;
  client.port = server.port();
  client.recv_timeout = kRecvTimeout;
  PoolOptions options;
  options.max_cap = 4;
  options.max_idle = 4;
  UserPool pool(client, options);
  for (std::int64_t id = 1; id <= 100; ++id) {
    ASSERT_TRUE(IsUser(GetUser(pool, id, kIdempotent), id));
  }

  server.Pause();
  constexpr int kThreads = 2;
  std::vector<Failures> stalled(kThreads);
  {
    ThreadGroup threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.Start([&, t] {
        std::int64_t id = 1000 * (t + 1);
        for (const Stopwatch stall; stall.Elapsed() < Millis(kOutage);) {
          stalled[t].Record([&] { GetUser(pool, ++id, CallOptions{}); });
        }
      });
    }
  }
  server.Resume();
  const ClientPoolStats after_stall = pool.Stats();

  GetUserLoad load(
      2, [&](example::User& user, std::int64_t id) { user = GetUser(pool, id, CallOptions{}); });
  const bool enough = WaitFor([&] { return load.ok_so_far() >= 2000; }, milliseconds(5000));
  const CallOutcomes outcomes = load.Stop();

  std::size_t timeouts = 0;
  Millis fastest(1e9);
  Millis slowest(0);
  for (const Failures& failures : stalled) {
    EXPECT_EQ(failures.unexpected_successes, 0) << "a stopped server answered";
    timeouts += failures.latencies.size();
    slowest = std::max(slowest, failures.slowest());
    for (const Millis& latency : failures.latencies) fastest = std::min(fastest, latency);
    for (const std::string& description : failures.descriptions) {
      ASSERT_EQ(description.rfind("TTransportException(TIMED_OUT)", 0), 0u) << description;
    }
  }
  ReportFigure("stall", std::to_string(timeouts) + " calls timed out in " +
                            std::to_string(fastest.count()) + ".." +
                            std::to_string(slowest.count()) + " ms; closed_broken " +
                            std::to_string(after_stall.pool.closed_broken) + ", retries " +
                            std::to_string(after_stall.retries));
  ReportFigure("after_sigcont", outcomes.Summary());
  EXPECT_GE(timeouts, 2u * kThreads);
  EXPECT_GE(fastest, Millis(kRecvTimeout) * 0.9);
  EXPECT_LT(slowest, Loose(Millis(600)));
  EXPECT_GE(after_stall.pool.closed_broken, timeouts);
  EXPECT_EQ(after_stall.retries, 0u);
  EXPECT_TRUE(enough) << outcomes.Summary();
  EXPECT_EQ(outcomes.wrong, 0u) << outcomes.Summary();
  for (const auto& [cause, count] : outcomes.failures_by_cause) {
    EXPECT_EQ(cause, "TTransportException(TIMED_OUT)") << outcomes.Summary();
  }
}

}  // namespace
}  // namespace thriftpool::faults
