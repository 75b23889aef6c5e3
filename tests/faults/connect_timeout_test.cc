// Scenario 4, connect timeouts: the target is a loopback listener whose accept queue is full, so
// a connect hangs (its SYNs are dropped) until the client's connect timeout. A Get that has to
// dial must fail at connect_timeout; callers that find an idle connection must not wait for it.
#include <gtest/gtest.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/channel_pool.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <string>
#include <vector>

#include "fake_peers.h"
#include "fault_support.h"

namespace thriftpool::faults {
namespace {

using apache::thrift::transport::TTransportException;

constexpr milliseconds kConnectTimeout(300);

// The dial took connect_timeout, within 20% (more only for the sanitizers' slowness), and ended
// in a transport error that says it timed out.
void ExpectConnectTimedOut(const Millis& elapsed, const std::string& failure) {
  EXPECT_NE(failure.find("TTransportException"), std::string::npos) << failure;
  EXPECT_NE(failure.find("timed out"), std::string::npos) << failure;
  EXPECT_GE(elapsed, Millis(kConnectTimeout) * 0.8);
  EXPECT_LE(elapsed, Loose(Millis(kConnectTimeout) * 1.2));
}

class ConnectTimeoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_.connect_timeout = kConnectTimeout;
    client_.recv_timeout = milliseconds(2000);
  }

  BlackHoleListener black_hole_;
  ClientOptions client_;
};

TEST_F(ConnectTimeoutTest, GetFailsAtTheConnectTimeout) {
  client_.port = black_hole_.port();
  UserPool pool(client_, PoolOptions{});
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string failure;
    const Stopwatch get;
    try {
      pool.Get();
      ADD_FAILURE() << "connected to the black hole";
    } catch (...) {
      failure = DescribeCurrentException();
    }
    const Millis elapsed = get.Elapsed();
    ReportFigure("connect_timeout_ms", std::to_string(elapsed.count()) + " (" + failure + ")");
    ExpectConnectTimedOut(elapsed, failure);
  }
  const PoolStats stats = pool.Stats().pool;
  EXPECT_EQ(stats.create_failures, 3u);
  EXPECT_EQ(stats.open, 0u);
  EXPECT_EQ(stats.creating, 0u);
}

// thrift_connection.h documents TIMED_OUT for a connect that ran into connect_timeout (and
// NOT_OPEN for a refused one), so that callers and reports can tell the two apart.
TEST_F(ConnectTimeoutTest, ConnectTimeoutIsReportedAsTimedOut) {
  client_.port = black_hole_.port();
  try {
    ThriftConnection connection(client_);
    ADD_FAILURE() << "connected to the black hole";
  } catch (const TTransportException& e) {
    EXPECT_EQ(e.getType(), TTransportException::TIMED_OUT)
        << "got kind " << e.getType() << " (" << e.what()
        << "); thrift_connection.h promises TIMED_OUT after connect_timeout";
  }
}

// The factory dials whichever port `target` holds, so the same pool can hold idle connections to
// a good server while its next dial goes into the black hole.
TEST_F(ConnectTimeoutTest, HangingDialDoesNotHoldUpIdleConnections) {
  using Conn = PooledClient<example::UserServiceClient>;
  example::UserServer server{example::UserServerOptions{}};
  server.Start();
  std::atomic<int> target{server.port()};
  PoolOptions options;
  options.max_cap = 8;
  options.max_idle = 8;
  ChannelPool<Conn> pool(
      options,
      [&] {
        ClientOptions dial = client_;
        dial.port = target.load();
        return std::make_unique<Conn>(dial);
      },
      [](Conn& c) { c.connection().Close(); }, [](Conn& c) { return c.connection().Probe(); });
  constexpr int kWorkers = 2;
  {
    // One idle connection more than workers: a worker always finds one and never dials.
    std::vector<Lease<Conn>> leases;
    for (int i = 0; i < kWorkers + 1; ++i) leases.push_back(pool.Get());
  }
  target = black_hole_.port();

  std::atomic<bool> dialing{false};
  std::atomic<bool> dial_done{false};
  std::vector<Millis> slowest(kWorkers, Millis(0));
  std::vector<int> cycles_during_dial(kWorkers, 0);
  std::vector<std::string> failures(kWorkers);
  ThreadGroup workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.Start([&, w] {
      while (!dial_done.load()) {
        const bool during_dial = dialing.load();
        try {
          const Stopwatch get;
          Lease<Conn> lease = pool.Get();
          slowest[w] = std::max(slowest[w], get.Elapsed());
          lease->ping();  // a real use of the idle connection, against the good server
          const Stopwatch put;
          pool.Put(std::move(lease));
          slowest[w] = std::max(slowest[w], put.Elapsed());
        } catch (...) {
          failures[w] = DescribeCurrentException();
          return;
        }
        if (during_dial && !dial_done.load()) ++cycles_during_dial[w];
        std::this_thread::sleep_for(milliseconds(1));
      }
    });
  }

  std::this_thread::sleep_for(milliseconds(50));
  dialing = true;
  std::string failure;
  const Stopwatch dial;
  try {
    pool.GetFresh();  // must create, and so dials the black hole
    ADD_FAILURE() << "connected to the black hole";
  } catch (...) {
    failure = DescribeCurrentException();
  }
  const Millis dial_elapsed = dial.Elapsed();
  dial_done = true;
  workers.JoinAll();

  std::string report = "dial failed after " + std::to_string(dial_elapsed.count()) + " ms;";
  for (int w = 0; w < kWorkers; ++w) {
    report += " worker " + std::to_string(w) + ": " + std::to_string(cycles_during_dial[w]) +
              " Get/Put cycles during the dial, slowest Get or Put " +
              std::to_string(slowest[w].count()) + " ms;";
  }
  ReportFigure("hanging_dial", report);
  ExpectConnectTimedOut(dial_elapsed, failure);
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_TRUE(failures[w].empty()) << failures[w];
    EXPECT_GE(cycles_during_dial[w], 10) << "worker " << w << " made no progress during the dial";
    EXPECT_LT(slowest[w], Loose(Millis(50))) << "worker " << w << " waited for the dial";
  }
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.create_failures, 1u);
  EXPECT_EQ(stats.idle, static_cast<std::size_t>(kWorkers + 1));
}

}  // namespace
}  // namespace thriftpool::faults
