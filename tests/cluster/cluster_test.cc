// ServicePool against real user_server processes on 127.0.0.1, as replicas of one service:
// one SIGKILLed and restarted, one SIGSTOPped, one slowed; and 100 endpoints in one process.
// Every call is idempotent getUser with its answer checked.
#include <dirent.h>
#include <gtest/gtest.h>
#include <thriftpool/service_pool.h>
#include <thriftpool/user_server.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "service_pool_support.h"

namespace thriftpool::faults {
namespace {

constexpr int kUsers = 1000;

bool EjectedNow(const UserServicePool& pool, int port) {
  const ServicePoolStats stats = pool.Stats();
  const EndpointStats* e = FindEndpoint(stats, port);
  return e != nullptr && e->ejected;
}

int ThreadCount() {
  int count = 0;
  if (DIR* tasks = opendir("/proc/self/task")) {
    while (const dirent* entry = readdir(tasks)) count += entry->d_name[0] != '.';
    closedir(tasks);
  }
  return count;
}

class ClusterTest : public ::testing::Test {
 protected:
  ClusterTest() {
    client_.connect_timeout = milliseconds(300);
    client_.recv_timeout = milliseconds(300);
  }
  void StartServers(int count, std::vector<std::string> first_flags = {}) {
    for (int i = 0; i < count; ++i) {
      ServerProcess::Options options;
      options.flags = {"--users=" + std::to_string(kUsers)};
      if (i == 0) options.flags.insert(options.flags.end(), first_flags.begin(), first_flags.end());
      servers_.push_back(std::make_unique<ServerProcess>(options));
    }
  }
  std::vector<Endpoint> Endpoints() const {
    std::vector<Endpoint> endpoints;
    for (const auto& server : servers_) endpoints.push_back({"127.0.0.1", server->port(), 1});
    return endpoints;
  }
  // Waits (at most 15 s) until every endpoint has had 50 calls.
  void ExpectEveryEndpointCalled(const UserServicePool& pool) {
    for (const auto& server : servers_) {
      EXPECT_TRUE(
          WaitFor([&] { return AttemptsOn(pool, server->port()) > 50; }, milliseconds(15000)))
          << "port " << server->port();
    }
  }

  ClientOptions client_;
  PoolOptions pool_;
  ServicePoolOptions service_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

TEST_F(ClusterTest, AKilledReplicaCostsNoCallAndComesBackWhenRestarted) {
  StartServers(3);
  UserServicePool pool(client_, pool_, service_, Endpoints());
  GetUserLoad load(4, Through(pool), milliseconds(0), kUsers);
  ExpectEveryEndpointCalled(pool);

  const int victim = servers_[0]->port();
  servers_[0]->Kill();
  const Stopwatch since_kill;
  ASSERT_TRUE(WaitFor([&] { return EjectedNow(pool, victim); }, milliseconds(5000)));
  const Millis ejected_after = since_kill.Elapsed();
  std::this_thread::sleep_for(milliseconds(1000) - std::chrono::duration_cast<milliseconds>(
                                                       std::min(ejected_after, Millis(1000))));
  // From one second after the kill on, it gets nothing.
  const std::uint64_t attempts_at_1s = AttemptsOn(pool, victim);
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(AttemptsOn(pool, victim), attempts_at_1s);

  servers_[0]->Restart();  // the same port
  const Stopwatch since_restart;
  // The probe's back-off has doubled to at most 4 s by now.
  EXPECT_TRUE(WaitFor([&] { return !EjectedNow(pool, victim); }, milliseconds(10000)));
  const Millis readmitted_after = since_restart.Elapsed();
  const std::uint64_t attempts_back = AttemptsOn(pool, victim);
  EXPECT_TRUE(
      WaitFor([&] { return AttemptsOn(pool, victim) > attempts_back + 50; }, milliseconds(5000)));
  const CallOutcomes outcomes = load.Stop();
  ReportFigure("sigkill", "ejected " + std::to_string(ejected_after.count()) +
                              " ms after the kill; re-admitted " +
                              std::to_string(readmitted_after.count()) + " ms after the restart; " +
                              outcomes.Summary());
  EXPECT_EQ(outcomes.failed(), 0u) << outcomes.Summary();
  EXPECT_EQ(outcomes.wrong, 0u) << outcomes.Summary();
  EXPECT_GT(outcomes.ok, 1000u);
}

TEST_F(ClusterTest, AStalledReplicaTimesOutIsEjectedAndTrafficMoves) {
  StartServers(3);
  UserServicePool pool(client_, pool_, service_, Endpoints());
  GetUserLoad load(4, Through(pool), milliseconds(0), kUsers);
  ExpectEveryEndpointCalled(pool);

  const int victim = servers_[0]->port();
  servers_[0]->Pause();  // SIGSTOP: connects still succeed, nothing answers
  const Stopwatch since_stop;
  EXPECT_TRUE(WaitFor([&] { return EjectedNow(pool, victim); }, milliseconds(5000)));
  const Millis ejected_after = since_stop.Elapsed();
  const std::uint64_t ok_then = load.ok_so_far();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_GT(load.ok_so_far(), ok_then + 100) << "traffic moved to the other replicas";
  const std::uint64_t attempts_when_ejected = AttemptsOn(pool, victim);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(AttemptsOn(pool, victim), attempts_when_ejected);
  const CallOutcomes outcomes = load.Stop();
  servers_[0]->Resume();
  std::uint64_t timeouts = 0;
  for (const EndpointStats& e : pool.Stats().endpoints) {
    if (e.endpoint.port == victim) timeouts = e.failures;
  }
  ReportFigure("sigstop", "ejected " + std::to_string(ejected_after.count()) +
                              " ms after SIGSTOP (recv_timeout 300 ms), after " +
                              std::to_string(timeouts) + " timed-out attempts; " +
                              outcomes.Summary());
  EXPECT_GE(ejected_after, Millis(300) * 0.9) << "no ejection before a call could time out";
  EXPECT_EQ(outcomes.wrong, 0u) << outcomes.Summary();
  EXPECT_EQ(outcomes.failed(), 0u) << outcomes.Summary();
}

// Three identical replicas each keep a fair share. On loopback a call's time is mostly the
// client's and the replicas' scheduling: one that crosses vCPUs, or the first after a pause (it
// wakes the replica's threads), takes 10-30x the others. Before the balancer's warm-up and its
// bound on growth, such a call could leave a replica with no call for seconds (in 29 user_client
// runs of 2 s, a replica's share was 0.0% in 4 and under 15% in 13). A replica that really is slow
// for a moment (its process descheduled) is still avoided until its average is forgotten, up to a
// second later, so the share is asked of the whole run; the lowest 250 ms window is reported.
TEST_F(ClusterTest, IdenticalReplicasEachKeepAFairShare) {
  StartServers(3);
  UserServicePool pool(client_, pool_, service_, Endpoints());
  GetUserLoad load(4, Through(pool), milliseconds(0), kUsers);
  constexpr int kWindows = 12;
  std::vector<std::uint64_t> last(servers_.size(), 0);
  double lowest_window_share = 1;
  for (int window = 0; window < kWindows; ++window) {
    std::this_thread::sleep_for(milliseconds(250));
    std::vector<std::uint64_t> now;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      now.push_back(AttemptsOn(pool, servers_[i]->port()));
      total += now[i] - last[i];
    }
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      lowest_window_share = std::min(
          lowest_window_share, static_cast<double>(now[i] - last[i]) / static_cast<double>(total));
    }
    last = now;
  }
  const CallOutcomes outcomes = load.Stop();
  std::uint64_t total = 0;
  for (const std::uint64_t calls : last) total += calls;
  double lowest_share = 1;
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    const double share = static_cast<double>(last[i]) / static_cast<double>(total);
    EXPECT_GT(share, 0.15) << "replica " << i;
    lowest_share = std::min(lowest_share, share);
  }
  ReportFigure("identical_replicas", "lowest share of a replica " + std::to_string(lowest_share) +
                                         ", in a 250 ms window " +
                                         std::to_string(lowest_window_share) + "; " +
                                         outcomes.Summary());
  EXPECT_EQ(outcomes.failed() + outcomes.wrong, 0u) << outcomes.Summary();
}

TEST_F(ClusterTest, PowerOfTwoChoicesStarvesASlowReplicaAndRoundRobinDoesNot) {
  StartServers(3, {"--delay-ms=10"});
  const int slow = servers_[0]->port();
  double shares[2] = {0, 0};
  const BalancerKind balancers[2] = {BalancerKind::kPowerOfTwoChoices, BalancerKind::kRoundRobin};
  for (int i = 0; i < 2; ++i) {
    service_.balancer = balancers[i];
    UserServicePool pool(client_, pool_, service_, Endpoints());
    GetUserLoad load(4, Through(pool), milliseconds(0), kUsers);
    std::this_thread::sleep_for(milliseconds(1500));
    const CallOutcomes outcomes = load.Stop();
    EXPECT_EQ(outcomes.failed() + outcomes.wrong, 0u) << outcomes.Summary();
    std::uint64_t total = 0;
    for (const EndpointStats& e : pool.Stats().endpoints) total += e.calls;
    shares[i] = static_cast<double>(AttemptsOn(pool, slow)) / static_cast<double>(total);
    ReportFigure(std::string("slow_replica_share_") + ToString(balancers[i]),
                 std::to_string(shares[i]) + " of " + std::to_string(total) + " attempts (" +
                     outcomes.Summary() + ")");
  }
  EXPECT_LT(shares[0], 0.15) << "p2c: the replica 10 ms slower gets clearly less than a third";
  EXPECT_GT(shares[1], 0.30) << "round-robin gives it a third whatever its speed";
}

TEST(ManyEndpointsTest, AHundredEndpointsAllGetCallsWithinTheirCapsAndNoThreadEach) {
  constexpr int kEndpoints = 100;
  std::vector<std::unique_ptr<example::UserServer>> servers;
  std::vector<Endpoint> endpoints;
  for (int i = 0; i < kEndpoints; ++i) {
    example::UserServerOptions options;
    options.users = kUsers;
    servers.push_back(std::make_unique<example::UserServer>(options));
    servers.back()->Start();
    endpoints.push_back({"127.0.0.1", servers.back()->port(), 1});
  }
  ClientOptions client;
  PoolOptions pool_options;
  pool_options.max_cap = 2;
  pool_options.max_idle = 2;
  const int threads_before = ThreadCount();
  UserServicePool pool(client, pool_options, ServicePoolOptions{}, endpoints);
  EXPECT_LE(ThreadCount(), threads_before + 1)
      << "one probe thread for the pool, none per endpoint";
  {
    GetUserLoad load(4, Through(pool), milliseconds(0), kUsers);
    EXPECT_TRUE(WaitFor(
        [&] {
          for (const EndpointStats& e : pool.Stats().endpoints) {
            if (e.calls == 0) return false;
          }
          return true;
        },
        milliseconds(10000)));
    const CallOutcomes outcomes = load.Stop();
    EXPECT_EQ(outcomes.failed() + outcomes.wrong, 0u) << outcomes.Summary();
    ReportFigure("hundred_endpoints", outcomes.Summary());
  }
  std::size_t open = 0;
  std::size_t server_side = 0;
  for (const EndpointStats& e : pool.Stats().endpoints) {
    EXPECT_GT(e.calls, 0u) << ToString(e.endpoint);
    EXPECT_LE(e.pool.open, pool_options.max_cap) << ToString(e.endpoint);
    open += e.pool.open;
  }
  for (const auto& server : servers) server_side += server->connection_count();
  EXPECT_LE(open, kEndpoints * pool_options.max_cap);
  EXPECT_LE(server_side, kEndpoints * pool_options.max_cap);
}

}  // namespace
}  // namespace thriftpool::faults
