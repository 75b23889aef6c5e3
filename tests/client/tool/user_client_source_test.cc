// The callers of the modes that manage their connections themselves (raw, handwritten), against
// a real UserServer on loopback: a connection whose stream may be out of sync is closed and never
// used again, while a declared exception keeps it. The faults are made with
// UserServer::KillConnections (a reset, as a firewall dropping its state would cause).
#include <gtest/gtest.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/user_server.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "client_source.h"
#include "tool_config.h"
#include "user_service_types.h"

namespace thriftpool::tool {
namespace {

using apache::thrift::transport::TTransportException;
using example::User;
using example::UserNotFound;
using std::chrono::milliseconds;

// A UserServer with users 1..1000 on a free loopback port.
example::UserServerOptions ServerOptions() {
  example::UserServerOptions options;
  options.users = 1000;
  return options;
}

class UserClientSourceTest : public ::testing::TestWithParam<Mode> {
 protected:
  UserClientSourceTest() : server_(ServerOptions()) {
    server_.Start();
    ToolConfig config;
    config.mode = GetParam();
    config.client.port = server_.port();
    // One connection at most: a broken one that were kept would fail every later call.
    config.pool.max_cap = 1;
    config.pool.max_idle = 1;
    source_ = MakeClientSource(config);
    caller_ = source_->NewCaller();
  }

  void ExpectRightAnswer(std::int64_t id) {
    User user;
    caller_->GetUser(user, id);
    EXPECT_EQ(user.id, id);
    EXPECT_EQ(user.name, "user-" + std::to_string(id));
  }

  // Resets every connection the server holds and waits until it has let go of them all.
  void KillConnections() {
    server_.KillConnections();
    for (int i = 0; i < 400 && server_.connection_count() > 0; ++i) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_EQ(server_.connection_count(), 0u);
  }

  // Ends the callers' use of the source, as user_client does before it reports.
  ConnectionCounts Finish() {
    caller_.reset();
    source_->Finish();
    return source_->counts();
  }

  // closed_broken where the mode reports it (handwritten), else `expected` itself.
  std::uint64_t ClosedBroken(std::uint64_t expected) const {
    const nlohmann::json details = source_->Details();
    return details.is_object() ? details.value("closed_broken", std::uint64_t{999}) : expected;
  }

  example::UserServer server_;
  std::unique_ptr<ClientSource> source_;
  std::unique_ptr<UserCaller> caller_;
};

TEST_P(UserClientSourceTest, ATransportErrorClosesTheConnectionAndTheNextCallGetsANewOne) {
  ExpectRightAnswer(1);
  KillConnections();
  User user;
  EXPECT_THROW(caller_->GetUser(user, 2), TTransportException);
  ExpectRightAnswer(3);
  ExpectRightAnswer(4);
  EXPECT_EQ(ClosedBroken(1), 1u);
  const ConnectionCounts counts = Finish();
  EXPECT_EQ(counts.created, 2u) << "the reset connection was replaced, once";
  EXPECT_EQ(counts.closed, 2u);
  EXPECT_EQ(counts.retries, 0u) << "no mode but pool retries";
}

TEST_P(UserClientSourceTest, ADeclaredExceptionKeepsTheConnection) {
  ExpectRightAnswer(1);
  User user;
  EXPECT_THROW(caller_->GetUser(user, 1000000), UserNotFound);
  ExpectRightAnswer(2);
  EXPECT_EQ(ClosedBroken(0), 0u);
  const ConnectionCounts counts = Finish();
  EXPECT_EQ(counts.created, 1u);
  EXPECT_EQ(counts.closed, 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, UserClientSourceTest,
                         ::testing::Values(Mode::kRaw, Mode::kHandwritten),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return std::string(ToString(info.param));
                         });

}  // namespace
}  // namespace thriftpool::tool
