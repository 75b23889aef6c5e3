// The user_server binary, run as a child process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server_test_util.h"
#include "support/child_process.h"

namespace thriftpool::example {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_support::ChildProcess;

std::vector<std::string> Command(std::vector<std::string> args) {
  args.insert(args.begin(), USER_SERVER_PATH);
  return args;
}

// Reads the "listening on 127.0.0.1:PORT" line that must come first; returns PORT, or 0 after
// a test failure.
int ListeningPort(ChildProcess& server) {
  const std::optional<std::string> line = server.ReadLine(seconds(10));
  if (!line) {
    ADD_FAILURE() << "no first line; stderr: " << server.err();
    return 0;
  }
  constexpr std::string_view kPrefix = "listening on 127.0.0.1:";
  const std::string port = line->rfind(kPrefix, 0) == 0 ? line->substr(kPrefix.size()) : "";
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    ADD_FAILURE() << "first line: '" << *line << "'";
    return 0;
  }
  return std::stoi(port);
}

class UserServerBinarySignalTest : public ::testing::TestWithParam<int> {};

TEST_P(UserServerBinarySignalTest, ServesThenExitsCleanlyOnSignal) {
  ChildProcess server(Command({"--port", "0", "--users=50"}));
  const int port = ListeningPort(server);
  ASSERT_GT(port, 0);
  TestClient client(port, TransportKind::kBuffered, ProtocolKind::kBinary);
  User user;
  client->getUser(user, 50);
  EXPECT_EQ(user.name, "user-50");
  EXPECT_THROW(client->getUser(user, 51), UserNotFound);

  // With a client still connected, so that stopping has a connection to close.
  server.Signal(GetParam());
  const std::optional<int> status = server.Wait(seconds(10));
  ASSERT_TRUE(status.has_value()) << "still running after the signal";
  ASSERT_TRUE(WIFEXITED(*status)) << "status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0) << server.err();
  EXPECT_EQ(server.out(), "listening on 127.0.0.1:" + std::to_string(port) + "\n");
}

INSTANTIATE_TEST_SUITE_P(StopSignals, UserServerBinarySignalTest,
                         ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

TEST(UserServerBinaryTest, TakesEveryOptionInBothFlagForms) {
  ChildProcess server(Command({"--host", "127.0.0.1", "--port=0", "--transport", "framed",
                               "--protocol=compact", "--users", "5", "--idle-timeout-ms=5000"}));
  const int port = ListeningPort(server);
  ASSERT_GT(port, 0);
  TestClient client(port, TransportKind::kFramed, ProtocolKind::kCompact);
  User user;
  client->getUser(user, 5);
  EXPECT_EQ(user.email, "user-5@example.com");
  EXPECT_EQ(client->createUser("x", "x@example.com"), 6);
  server.Signal(SIGTERM);
  const std::optional<int> status = server.Wait(seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status << server.err();
}

struct BadFlagCase {
  std::string test_name;
  std::vector<std::string> args;
  std::string named;  // what the message must mention
};

class UserServerBinaryBadFlagTest : public ::testing::TestWithParam<BadFlagCase> {};

TEST_P(UserServerBinaryBadFlagTest, ExitsWithStatus2AndOneLineNamingTheFlag) {
  ChildProcess server(Command(GetParam().args));
  const std::optional<int> status = server.Wait(seconds(10));
  ASSERT_TRUE(status.has_value()) << "still running";
  ASSERT_TRUE(WIFEXITED(*status)) << "status " << *status << ", stderr: " << server.err();
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_EQ(server.out(), "");
  const std::string& err = server.err();
  EXPECT_NE(err.find(GetParam().named), std::string::npos) << err;
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "not one line: " << err;
}

INSTANTIATE_TEST_SUITE_P(
    Flags, UserServerBinaryBadFlagTest,
    ::testing::Values(
        BadFlagCase{"UnknownTransport", {"--transport=carrier-pigeon"}, "--transport"},
        BadFlagCase{"UnknownProtocol", {"--protocol", "json"}, "--protocol"},
        BadFlagCase{"NegativeUsers", {"--users=-1"}, "--users"},
        BadFlagCase{"NegativeUsersSeparateValue", {"--users", "-1"}, "--users"},
        BadFlagCase{"PortTooHigh", {"--port=65536"}, "--port"},
        BadFlagCase{"NegativePort", {"--port", "-1"}, "--port"},
        BadFlagCase{"PortNotANumber", {"--port=eighty"}, "--port"},
        BadFlagCase{"NegativeIdleTimeout", {"--idle-timeout-ms=-5"}, "--idle-timeout-ms"},
        BadFlagCase{"EmptyHost", {"--host="}, "--host"},
        BadFlagCase{"UnknownFlag", {"--no-such-flag=1"}, "--no-such-flag"},
        BadFlagCase{"StrayArgument", {"--port=0", "stray"}, "stray"}),
    [](const auto& info) { return info.param.test_name; });

}  // namespace
}  // namespace thriftpool::example
