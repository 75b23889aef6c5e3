#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/user_server.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "UserService.h"

namespace thriftpool {
namespace {

using apache::thrift::transport::TTransportException;
using example::UserServiceClient;
using std::chrono::milliseconds;

class ThriftConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(TransportKind::kBuffered, ProtocolKind::kBinary); }

  void StartServer(TransportKind transport, ProtocolKind protocol) {
    example::UserServerOptions options;
    options.users = 1000;
    options.transport = transport;
    options.protocol = protocol;
    server_ = std::make_unique<example::UserServer>(options);
    server_->Start();
    client_options_.port = server_->port();
    client_options_.transport = transport;
    client_options_.protocol = protocol;
  }

  // Polls `condition` every 5 ms for at most 2 s.
  template <class Condition>
  static bool Eventually(Condition condition) {
    for (int i = 0; i < 400; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  std::unique_ptr<example::UserServer> server_;
  ClientOptions client_options_;
};

TEST_F(ThriftConnectionTest, RefusedConnectFailsFastWithNotOpen) {
  // A bound but not listening loopback port refuses connections.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  client_options_.port = ntohs(addr.sin_port);
  const auto start = std::chrono::steady_clock::now();
  try {
    ThriftConnection connection(client_options_);
    FAIL() << "connected to a port with no listener";
  } catch (const TTransportException& e) {
    EXPECT_EQ(e.getType(), TTransportException::NOT_OPEN);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
  close(fd);
}

TEST_F(ThriftConnectionTest, EveryTransportAndProtocolTalksToAMatchingServer) {
  for (TransportKind transport : {TransportKind::kBuffered, TransportKind::kFramed}) {
    for (ProtocolKind protocol : {ProtocolKind::kBinary, ProtocolKind::kCompact}) {
      StartServer(transport, protocol);
      ThriftConnection connection(client_options_);
      UserServiceClient client(connection.protocol());
      example::User user;
      client.getUser(user, 77);
      EXPECT_EQ(user.id, 77) << ToString(transport) << "/" << ToString(protocol);
      EXPECT_EQ(user.name, "user-77");
    }
  }
}

TEST_F(ThriftConnectionTest, ProbeSaysHealthyForAnIdleConnectionWithoutBlocking) {
  ThriftConnection connection(client_options_);
  UserServiceClient(connection.protocol()).ping();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(connection.Probe());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
}

TEST_F(ThriftConnectionTest, ProbeSeesAReset) {
  ThriftConnection connection(client_options_);
  UserServiceClient(connection.protocol()).ping();
  server_->KillConnections();
  EXPECT_TRUE(Eventually([&] { return !connection.Probe(); }));
}

TEST_F(ThriftConnectionTest, ProbeSeesTheServerGoingAway) {
  ThriftConnection connection(client_options_);
  UserServiceClient(connection.protocol()).ping();
  server_->Stop();
  EXPECT_TRUE(Eventually([&] { return !connection.Probe(); }));
}

TEST_F(ThriftConnectionTest, ProbeSeesALateAnswer) {
  ThriftConnection connection(client_options_);
  UserServiceClient client(connection.protocol());
  client.send_sleepMs(50);  // the answer arrives while nobody reads it
  EXPECT_TRUE(Eventually([&] { return !connection.Probe(); }));
}

TEST_F(ThriftConnectionTest, BytesSentGrowWithRequestsAndNotWithAFailedWrite) {
  ThriftConnection connection(client_options_);
  UserServiceClient client(connection.protocol());
  EXPECT_EQ(connection.bytes_sent(), 0u);
  client.ping();
  const std::uint64_t after_ping = connection.bytes_sent();
  EXPECT_GT(after_ping, 0u);
  server_->KillConnections();
  ASSERT_TRUE(Eventually([&] { return !connection.Probe(); }));
  EXPECT_THROW(client.ping(), TTransportException);
  EXPECT_EQ(connection.bytes_sent(), after_ping);
}

TEST_F(ThriftConnectionTest, CloseIsIdempotent) {
  ThriftConnection connection(client_options_);
  connection.Close();
  connection.Close();
  EXPECT_FALSE(connection.Probe());
}

}  // namespace
}  // namespace thriftpool
