// An in-process UserServer on 127.0.0.1, spoken to by plain generated clients.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <thrift/TApplicationException.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "server_test_util.h"

namespace thriftpool::example {
namespace {

using apache::thrift::TApplicationException;
using apache::thrift::transport::TTransportException;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kUsers = 1000;

UserServerOptions Options(TransportKind transport = TransportKind::kBuffered,
                          ProtocolKind protocol = ProtocolKind::kBinary) {
  UserServerOptions options;
  options.transport = transport;
  options.protocol = protocol;
  options.users = kUsers;
  return options;
}

TestClient Connect(const UserServer& server) {
  return TestClient(server.port(), TransportKind::kBuffered, ProtocolKind::kBinary);
}

// What the server did to a quiet client socket, seen by one non-blocking recv(MSG_PEEK). A
// reset is reported once: later reads see end-of-file.
enum class PeerState { kOpen, kClosed, kReset, kOther };

PeerState Peek(int fd) {
  char byte;
  const ssize_t got = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (got == 0) return PeerState::kClosed;
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return PeerState::kOpen;
  if (got < 0 && errno == ECONNRESET) return PeerState::kReset;
  return PeerState::kOther;
}

// The first state other than kOpen within two seconds, or kOpen.
PeerState AwaitChange(int fd) {
  PeerState state = PeerState::kOpen;
  WaitFor([&] { return (state = Peek(fd)) != PeerState::kOpen; }, milliseconds(2000));
  return state;
}

class UserServerCallsTest
    : public ::testing::TestWithParam<std::tuple<TransportKind, ProtocolKind>> {
 protected:
  UserServerCallsTest() : server_(Options(std::get<0>(GetParam()), std::get<1>(GetParam()))) {
    server_.Start();
  }
  TestClient Client() {
    return TestClient(server_.port(), std::get<0>(GetParam()), std::get<1>(GetParam()));
  }

  UserServer server_;
};

TEST_P(UserServerCallsTest, EveryCallWorks) {
  ASSERT_GT(server_.port(), 0);
  TestClient client = Client();

  User user;
  client->getUser(user, 42);
  EXPECT_EQ(user.id, 42);
  EXPECT_EQ(user.name, "user-42");
  EXPECT_EQ(user.email, "user-42@example.com");

  try {
    client->getUser(user, kUsers + 1);
    ADD_FAILURE() << "no UserNotFound";
  } catch (const UserNotFound& e) {
    EXPECT_EQ(e.id, kUsers + 1);
  }

  const std::int64_t id = client->createUser("dora", "dora@example.com");
  EXPECT_EQ(id, kUsers + 1);
  client->getUser(user, id);
  EXPECT_EQ(user.name, "dora");
  EXPECT_EQ(user.email, "dora@example.com");

  client->ping();

  const auto start = Clock::now();
  client->sleepMs(50);
  EXPECT_GE(Clock::now() - start, milliseconds(50));

  EXPECT_THROW(client->sleepMs(-1), TApplicationException);
  // A TApplicationException leaves the connection usable.
  client->ping();
  EXPECT_EQ(server_.calls(), 8u);
}

INSTANTIATE_TEST_SUITE_P(
    AllStacks, UserServerCallsTest,
    ::testing::Combine(::testing::Values(TransportKind::kBuffered, TransportKind::kFramed),
                       ::testing::Values(ProtocolKind::kBinary, ProtocolKind::kCompact)),
    [](const auto& info) {
      return std::string(ToString(std::get<0>(info.param))) + "_" +
             ToString(std::get<1>(info.param));
    });

TEST(UserServerTest, CountsConnectionsFromTheHandshake) {
  UserServer server(Options());
  server.Start();
  auto first = std::make_unique<TestClient>(Connect(server));
  TestClient second = Connect(server);
  // Neither has sent a request yet.
  ASSERT_TRUE(WaitFor([&] { return server.connection_count() == 2; }, milliseconds(2000)))
      << server.connection_count();
  first.reset();
  EXPECT_TRUE(WaitFor([&] { return server.connection_count() == 1; }, milliseconds(2000)))
      << server.connection_count();
}

TEST(UserServerTest, ConnectionsDoNotWaitForEachOther) {
  UserServer server(Options());
  server.Start();
  TestClient slow = Connect(server);
  TestClient fast = Connect(server);
  auto sleeping = std::async(std::launch::async, [&slow] { slow->sleepMs(1000); });
  ASSERT_TRUE(WaitFor([&] { return server.calls() == 1; }, milliseconds(2000)));
  const auto start = Clock::now();
  fast->ping();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  sleeping.get();
}

TEST(UserServerTest, IdleTimeoutClosesIdleConnectionsOnly) {
  UserServerOptions options = Options();
  options.idle_timeout = milliseconds(200);
  UserServer server(options);
  server.Start();
  TestClient idle = Connect(server);
  TestClient busy = Connect(server);
  idle->ping();
  // busy sends a request every 50 ms for 600 ms, three idle timeouts: it must stay open.
  for (int i = 0; i < 12; ++i) {
    busy->ping();
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(WaitFor([&] { return server.connection_count() == 1; }, milliseconds(2000)));
  EXPECT_EQ(Peek(idle.fd()), PeerState::kClosed);
  EXPECT_THROW(idle->ping(), TTransportException);
  busy->ping();
}

TEST(UserServerTest, KillConnectionsResetsThemAndKeepsServing) {
  UserServer server(Options());
  server.Start();
  TestClient first = Connect(server);
  TestClient second = Connect(server);
  first->ping();
  ASSERT_TRUE(WaitFor([&] { return server.connection_count() == 2; }, milliseconds(2000)));

  server.KillConnections();
  ASSERT_TRUE(WaitFor([&] { return server.connection_count() == 0; }, milliseconds(2000)))
      << server.connection_count();
  // A reset, not an orderly close: no end-of-file comes first.
  EXPECT_EQ(AwaitChange(second.fd()), PeerState::kReset);
  try {
    first->ping();
    ADD_FAILURE() << "a call on a killed connection succeeded";
  } catch (const TTransportException& e) {
    EXPECT_EQ(e.getType(), TTransportException::NOT_OPEN) << e.what();
  }

  TestClient fresh = Connect(server);
  User user;
  fresh->getUser(user, 3);
  EXPECT_EQ(user.name, "user-3");
  EXPECT_EQ(server.connection_count(), 1u);
}

TEST(UserServerTest, KillConnectionsResetsACallInFlightInsteadOfAnswering) {
  UserServer server(Options());
  server.Start();
  TestClient client = Connect(server);
  auto sleeping = std::async(std::launch::async, [&client] { client->sleepMs(300); });
  ASSERT_TRUE(WaitFor([&] { return server.calls() == 1; }, milliseconds(2000)));
  server.KillConnections();
  // TSocket reports a reset met while reading as end-of-file, so the type tells nothing more.
  EXPECT_THROW(sleeping.get(), TTransportException);
  EXPECT_TRUE(WaitFor([&] { return server.connection_count() == 0; }, milliseconds(2000)));
}

TEST(UserServerTest, GetUserDelayMakesGetUserSlowAndNothingElse) {
  UserServerOptions options = Options();
  options.get_user_delay = milliseconds(100);
  UserServer server(options);
  server.Start();
  TestClient client = Connect(server);
  auto start = Clock::now();
  client->ping();
  EXPECT_LT(Clock::now() - start, milliseconds(100));
  start = Clock::now();
  User user;
  client->getUser(user, 1);
  EXPECT_GE(Clock::now() - start, milliseconds(100));
  EXPECT_EQ(user.id, 1);
}

TEST(UserServerTest, StopIsPromptWithIdleAndSleepingClients) {
  UserServer server(Options());
  server.Start();
  TestClient used = Connect(server);
  used->ping();
  TestClient never_used = Connect(server);
  TestClient sleeper = Connect(server);
  auto sleeping = std::async(std::launch::async, [&sleeper] { sleeper->sleepMs(30000); });
  ASSERT_TRUE(WaitFor([&] { return server.calls() == 2 && server.connection_count() == 3; },
                      milliseconds(2000)));

  const auto start = Clock::now();
  server.Stop();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_EQ(server.connection_count(), 0u);
  ASSERT_EQ(sleeping.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(AwaitChange(never_used.fd()), PeerState::kClosed);
  EXPECT_THROW(used->ping(), TTransportException);
  server.Stop();  // idempotent
}

TEST(UserServerTest, RestartsOnTheSamePortKeepingCreatedUsers) {
  UserServer server(Options());
  server.Start();
  const int port = server.port();
  TestClient before = Connect(server);
  const std::int64_t id = before->createUser("eve", "eve@example.com");
  server.Stop();

  server.Start();
  EXPECT_EQ(server.port(), port);
  TestClient after = Connect(server);
  User user;
  after->getUser(user, id);
  EXPECT_EQ(user.name, "eve");
}

TEST(UserServerTest, NewServerBindsAPortJustFreed) {
  UserServerOptions options = Options();
  int port = 0;
  {
    UserServer first(options);
    first.Start();
    port = first.port();
    TestClient client = Connect(first);
    client->ping();
    // The server closes first, leaving its side of the connection in TIME_WAIT.
  }
  options.port = port;
  UserServer second(options);
  second.Start();
  EXPECT_EQ(second.port(), port);
  TestClient client = Connect(second);
  client->ping();
}

TEST(UserServerTest, StartThrowsWhenThePortIsTaken) {
  UserServer first(Options());
  first.Start();
  UserServerOptions options = Options();
  options.port = first.port();
  UserServer second(options);
  EXPECT_THROW(second.Start(), TTransportException);
  EXPECT_EQ(second.port(), 0);
  // The first one is unaffected.
  TestClient client = Connect(first);
  client->ping();
}

// Clients call while connections are killed under them: a race detector's test as much as a
// functional one. Every call either succeeds or fails with a TTransportException.
TEST(UserServerTest, SurvivesKillsDuringConcurrentCalls) {
  UserServer server(Options());
  server.Start();
  constexpr int kClients = 4;
  constexpr int kCallsPerClient = 200;
  std::atomic<int> succeeded{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&server, &succeeded] {
      std::unique_ptr<TestClient> client;
      for (int i = 0; i < kCallsPerClient; ++i) {
        try {
          // Inside the try: a connect can meet a kill too (the new connection is reset at once).
          if (!client) client = std::make_unique<TestClient>(Connect(server));
          User user;
          (*client)->getUser(user, 1 + i % kUsers);
          (*client)->createUser("u", "u@example.com");
          ++succeeded;
        } catch (const TTransportException&) {
          client.reset();
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    server.KillConnections();
    std::this_thread::sleep_for(milliseconds(2));
  }
  for (std::thread& client : clients) client.join();
  EXPECT_GT(succeeded.load(), 0);
  TestClient last = Connect(server);
  EXPECT_GT(last->createUser("z", "z@example.com"), kUsers + succeeded.load());
}

}  // namespace
}  // namespace thriftpool::example
