// ClientOptions::multiplexed_service against a real UserServer serving UserService and ServerInfo
// through one TMultiplexedProcessor: each service through its own pool, concurrently, on every
// transport and protocol; and what a caller sees when client and server disagree.
#include <gtest/gtest.h>
#include <thrift/TApplicationException.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/user_server.h>

#include <string>
#include <thread>

#include "ServerInfo.h"
#include "UserService.h"

namespace thriftpool {
namespace {

using apache::thrift::TApplicationException;
using example::ServerInfoClient;
using example::User;
using example::UserServiceClient;

constexpr std::int64_t kUsers = 500;

struct Stack {
  TransportKind transport;
  ProtocolKind protocol;
};

class MultiplexedServiceTest : public ::testing::TestWithParam<Stack> {
 protected:
  void StartServer(bool multiplex) {
    example::UserServerOptions options;
    options.users = kUsers;
    options.transport = GetParam().transport;
    options.protocol = GetParam().protocol;
    options.multiplex = multiplex;
    server_ = std::make_unique<example::UserServer>(options);
    server_->Start();
  }
  ClientOptions Client(const std::string& service) const {
    ClientOptions client;
    client.port = server_->port();
    client.transport = GetParam().transport;
    client.protocol = GetParam().protocol;
    client.recv_timeout = std::chrono::milliseconds(2000);
    client.multiplexed_service = service;
    return client;
  }
  static User GetUser(ThriftClientPool<UserServiceClient>& pool, std::int64_t id) {
    User user;
    pool.Call([&](UserServiceClient& c) { c.getUser(user, id); }, kIdempotent);
    return user;
  }

  PoolOptions pool_;
  std::unique_ptr<example::UserServer> server_;
};

TEST_P(MultiplexedServiceTest, EachServiceThroughItsOwnPoolAtOnce) {
  StartServer(/*multiplex=*/true);
  ThriftClientPool<UserServiceClient> users(Client(example::kUserServiceName), pool_);
  ThriftClientPool<ServerInfoClient> info(Client(example::kServerInfoName), pool_);
  int wrong_users = 0;
  int wrong_counts = 0;
  std::thread user_calls([&] {
    for (std::int64_t id = 1; id <= 300; ++id) wrong_users += GetUser(users, id).id != id;
  });
  std::thread info_calls([&] {
    for (int i = 0; i < 300; ++i) {
      wrong_counts += info.Call([](ServerInfoClient& c) { return c.userCount(); }) != kUsers;
    }
  });
  user_calls.join();
  info_calls.join();
  EXPECT_EQ(wrong_users, 0);
  EXPECT_EQ(wrong_counts, 0);
  EXPECT_GE(info.Call([](ServerInfoClient& c) { return c.uptimeMs(); }), 0);
  EXPECT_EQ(users.Stats().sequence_mismatches + info.Stats().sequence_mismatches, 0u);
  EXPECT_EQ(server_->calls(), 601u);
}

TEST_P(MultiplexedServiceTest, AnUnmultiplexedClientStillReachesUserService) {
  StartServer(/*multiplex=*/true);
  ThriftClientPool<UserServiceClient> users(Client(""), pool_);
  EXPECT_EQ(GetUser(users, 42).id, 42);
}

TEST_P(MultiplexedServiceTest, AnUnknownServiceIsAnApplicationErrorNamingIt) {
  StartServer(/*multiplex=*/true);
  ThriftClientPool<UserServiceClient> users(Client("NoSuchService"), pool_);
  try {
    GetUser(users, 1);
    FAIL() << "a call to an unregistered service succeeded";
  } catch (const TApplicationException& e) {
    EXPECT_NE(std::string(e.what()).find("NoSuchService"), std::string::npos) << e.what();
  }
  EXPECT_EQ(users.Stats().sequence_mismatches, 0u);
}

TEST_P(MultiplexedServiceTest, AMultiplexedClientToAPlainServerIsAnApplicationErrorNamingIt) {
  StartServer(/*multiplex=*/false);
  ThriftClientPool<UserServiceClient> users(Client(example::kUserServiceName), pool_);
  try {
    GetUser(users, 1);
    FAIL() << "a multiplexed call to an unmultiplexed server succeeded";
  } catch (const TApplicationException& e) {
    EXPECT_EQ(e.getType(), TApplicationException::UNKNOWN_METHOD);
    EXPECT_NE(std::string(e.what()).find("UserService:getUser"), std::string::npos) << e.what();
  }
  EXPECT_EQ(users.Stats().sequence_mismatches, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllStacks, MultiplexedServiceTest,
                         ::testing::Values(Stack{TransportKind::kBuffered, ProtocolKind::kBinary},
                                           Stack{TransportKind::kBuffered, ProtocolKind::kCompact},
                                           Stack{TransportKind::kFramed, ProtocolKind::kBinary},
                                           Stack{TransportKind::kFramed, ProtocolKind::kCompact}),
                         [](const ::testing::TestParamInfo<Stack>& info) {
                           return std::string(ToString(info.param.transport)) + "_" +
                                  ToString(info.param.protocol);
                         });

}  // namespace
}  // namespace thriftpool
