// End-to-end tests of the user_client binary: every mode against its embedded server and against a
// separate user_server process, both flag syntaxes, bad command lines, and a server that is not
// there. Each run is small (hundreds to a few thousand requests): the whole file takes seconds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace thriftpool::tooltest {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using testing_support::ChildProcess;
using testing_support::ProcessResult;
using testing_support::RunProcess;

constexpr seconds kRunTimeout{30};
constexpr const char* kEveryMode[] = {"pool", "per-call", "raw", "handwritten"};

ProcessResult RunClient(std::vector<std::string> args) {
  args.insert(args.begin(), USER_CLIENT_PATH);
  return RunProcess(args, kRunTimeout);
}

std::string Describe(const ProcessResult& run) {
  return "exit " + std::to_string(run.exit_code) + ", signal " + std::to_string(run.signal) +
         (run.timed_out ? " (timed out)" : "") + "\nstdout:\n" + run.out + "\nstderr:\n" + run.err;
}

// Runs user_client with --json and returns the JSON object on its last stdout line.
json RunClientJson(std::vector<std::string> args, int expected_exit = 0) {
  args.push_back("--json");
  const ProcessResult run = RunClient(args);
  EXPECT_EQ(run.exit_code, expected_exit) << Describe(run);
  json result = json::parse(run.LastOutLine(), nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(result.is_object()) << Describe(run);
  return result.is_object() ? result : json::object();
}

void ExpectAllAnswered(const json& result, std::int64_t requests) {
  EXPECT_EQ(result.value("requests", -1), requests) << result.dump();
  EXPECT_EQ(result.value("ok", -1), requests) << result.dump();
  EXPECT_EQ(result.value("failed", -1), 0) << result.dump();
  EXPECT_EQ(result.value("wrong_answers", -1), 0) << result.dump();
  EXPECT_EQ(result.value("connections_created", -1), result.value("connections_closed", -2))
      << "every connection is closed by the end: " << result.dump();
  EXPECT_GT(result.value("p50_us", 0.0), 0.0) << result.dump();
  EXPECT_GE(result.value("p99_us", 0.0), result.value("p50_us", 0.0)) << result.dump();
  EXPECT_GT(result.value("rps", 0.0), 0.0) << result.dump();
}

// A loopback port that refuses connections for as long as this object lives: bound, so nobody
// else gets it, but not listening.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot bind a loopback port";
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  const int fd_;
  int port_ = 0;
};

TEST(UserClientTest, PoolModeAnswersEverythingWithinMaxCap) {
  const json result = RunClientJson({"--mode", "pool", "--threads", "4", "--requests", "2000"});
  ExpectAllAnswered(result, 2000);
  EXPECT_EQ(result.value("mode", ""), "pool");
  EXPECT_TRUE(result.value("embedded_server", false));
  EXPECT_EQ(result["pool_options"].value("max_cap", 0), 4) << "max_cap defaults to --threads";
  EXPECT_EQ(result["pool_options"].value("max_idle", 0), 4) << "max_idle defaults to max_cap";
  EXPECT_GE(result.value("connections_created", 0), 1);
  EXPECT_LE(result.value("connections_created", 99), 4) << result.dump();
  EXPECT_EQ(result.value("retries", -1), 0);
}

TEST(UserClientTest, PoolModeKeepsToAnExplicitMaxCapBelowTheThreads) {
  const json result = RunClientJson({"--threads", "4", "--max-cap", "2", "--requests", "1000"});
  ExpectAllAnswered(result, 1000);
  EXPECT_EQ(result["pool_options"].value("max_cap", 0), 2);
  EXPECT_LE(result.value("connections_created", 99), 2) << result.dump();
}

TEST(UserClientTest, HandwrittenModeAnswersEverythingWithinMaxCap) {
  const json result =
      RunClientJson({"--mode", "handwritten", "--threads", "4", "--requests", "2000"});
  ExpectAllAnswered(result, 2000);
  EXPECT_EQ(result.value("mode", ""), "handwritten");
  EXPECT_EQ(result["pool_options"].value("max_cap", 0), 4) << "max_cap defaults to --threads";
  EXPECT_EQ(result["pool_options"].value("wait_timeout_ms", 0), 5000);
  EXPECT_GE(result.value("connections_created", 0), 1);
  EXPECT_LE(result.value("connections_created", 99), 4) << result.dump();
  EXPECT_EQ(result.value("retries", -1), 0);
  EXPECT_EQ(result["pool"].value("closed_broken", -1), 0) << result.dump();
}

// Many more threads than connections: they queue in the pool's Get, as in a thread-per-request
// service.
TEST(UserClientTest, HandwrittenModeKeepsToAnExplicitMaxCapUnderManyThreads) {
  const json result = RunClientJson({"--mode=handwritten", "--threads=64", "--max-cap=2",
                                     "--wait-timeout-ms=10000", "--requests=3000"});
  ExpectAllAnswered(result, 3000);
  EXPECT_EQ(result["pool_options"].value("max_cap", 0), 2);
  EXPECT_EQ(result["pool_options"].value("wait_timeout_ms", 0), 10000);
  EXPECT_GE(result.value("connections_created", 0), 1);
  EXPECT_LE(result.value("connections_created", 99), 2) << result.dump();
}

TEST(UserClientTest, PerCallModeOpensOneConnectionPerRequest) {
  const json result = RunClientJson({"--mode", "per-call", "--threads", "2", "--requests", "300"});
  ExpectAllAnswered(result, 300);
  EXPECT_EQ(result.value("mode", ""), "per-call");
  EXPECT_EQ(result.value("connections_created", -1), 300);
  EXPECT_EQ(result.value("connections_closed", -1), 300);
}

TEST(UserClientTest, RawModeOpensOneConnectionPerThread) {
  const json result = RunClientJson({"--mode", "raw", "--threads", "3", "--requests", "900"});
  ExpectAllAnswered(result, 900);
  EXPECT_EQ(result.value("mode", ""), "raw");
  EXPECT_EQ(result.value("connections_created", -1), 3);
}

TEST(UserClientTest, FramedCompactWorksInEveryMode) {
  for (const char* mode : kEveryMode) {
    SCOPED_TRACE(mode);
    const json result = RunClientJson({"--mode", mode, "--threads", "2", "--requests", "200",
                                       "--transport", "framed", "--protocol", "compact"});
    ExpectAllAnswered(result, 200);
    EXPECT_EQ(result.value("transport", ""), "framed");
    EXPECT_EQ(result.value("protocol", ""), "compact");
  }
}

TEST(UserClientTest, BothFlagFormsWork) {
  const json spaced =
      RunClientJson({"--mode", "raw", "--threads", "3", "--requests", "333", "--seed", "7"});
  const json joined = RunClientJson({"--mode=raw", "--threads=3", "--requests=333", "--seed=7"});
  for (const json& result : {spaced, joined}) {
    ExpectAllAnswered(result, 333);
    EXPECT_EQ(result.value("mode", ""), "raw");
    EXPECT_EQ(result.value("threads", 0), 3);
    EXPECT_EQ(result.value("seed", 0), 7);
  }
}

TEST(UserClientTest, DurationBoundsTheRun) {
  const json result = RunClientJson({"--threads", "2", "--duration-s", "0.3"});
  EXPECT_GT(result.value("ok", 0), 0) << result.dump();
  EXPECT_EQ(result.value("ok", 0), result.value("requests", -1));
  EXPECT_TRUE(result["target_requests"].is_null());
  EXPECT_DOUBLE_EQ(result.value("target_duration_s", 0.0), 0.3);
  EXPECT_GE(result.value("duration_s", 0.0), 0.3);
  EXPECT_LT(result.value("duration_s", 99.0), 5.0);
}

TEST(UserClientTest, SummaryPrecedesTheJsonLine) {
  const ProcessResult run = RunClient({"--requests", "100", "--json"});
  ASSERT_EQ(run.exit_code, 0) << Describe(run);
  for (const char* part : {"user_client: mode pool", "ok ", "failed ", "wrong answers ", "retries ",
                           "connections ", "p50 ", "p99 "}) {
    EXPECT_NE(run.out.find(part), std::string::npos) << part << "\n" << run.out;
  }
  EXPECT_EQ(run.LastOutLine().front(), '{');
  EXPECT_EQ(run.err, "") << "no progress line when stderr is not a terminal";
}

// A user_server process of its own, shared by the tests that talk to an external server.
class ExternalServerTest : public ::testing::Test {
 protected:
  static constexpr int kUsers = 1000;

  static void SetUpTestSuite() {
    // stderr inherited: the server's log shows in the test's output.
    server_ = new ChildProcess({USER_SERVER_PATH, "--port", "0", "--users", std::to_string(kUsers)},
                               ChildProcess::StderrMode::kInherit);
    const std::optional<std::string> line = server_->ReadLine(seconds(10));
    ASSERT_TRUE(line.has_value()) << "no line from user_server";
    const std::string prefix = "listening on ";
    ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
    address_ = new std::string(line->substr(prefix.size()));
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      const std::optional<int> status = server_->Wait(seconds(10));
      EXPECT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "user_server exits cleanly on SIGTERM";
    }
    delete server_;
    delete address_;
    server_ = nullptr;
    address_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(address_, nullptr) << "user_server did not start"; }

  static ChildProcess* server_;
  static std::string* address_;  // HOST:PORT, from the server's first line
};
ChildProcess* ExternalServerTest::server_ = nullptr;
std::string* ExternalServerTest::address_ = nullptr;

TEST_F(ExternalServerTest, EveryModeAnswersEverything) {
  for (const char* mode : kEveryMode) {
    SCOPED_TRACE(mode);
    const json result = RunClientJson({"--server", *address_, "--users", std::to_string(kUsers),
                                       "--mode", mode, "--threads", "2", "--requests", "400"});
    ExpectAllAnswered(result, 400);
    EXPECT_FALSE(result.value("embedded_server", true));
    EXPECT_EQ(result.value("server", ""), *address_);
  }
}

// --endpoints: the same server listed with a refusing port beside it. Every request is answered
// (a refused connect is retried on the other endpoint), the refusing one is ejected, and the
// report gives each endpoint's share, failures and ejections.
TEST_F(ExternalServerTest, EndpointsSpreadCallsAndReportEachOnesShare) {
  RefusingPort refusing;
  const std::string dead = "127.0.0.1:" + std::to_string(refusing.port());
  for (const char* balancer : {"p2c", "rr"}) {
    SCOPED_TRACE(balancer);
    const json result =
        RunClientJson({"--endpoints", *address_ + "," + dead, "--balancer", balancer, "--users",
                       std::to_string(kUsers), "--threads", "2", "--requests", "400"});
    ExpectAllAnswered(result, 400);
    EXPECT_EQ(result.value("server", ""), *address_ + "," + dead);
    const json& endpoints = result["pool"]["endpoints"];
    ASSERT_EQ(endpoints.size(), 2u) << result.dump();
    EXPECT_EQ(endpoints[0].value("endpoint", ""), *address_);
    EXPECT_EQ(endpoints[0].value("failures", -1), 0);
    EXPECT_EQ(endpoints[1].value("endpoint", ""), dead);
    EXPECT_GE(endpoints[1].value("failures", 0), 1);
    EXPECT_EQ(endpoints[1].value("ejections", 0), 1) << result.dump();
    EXPECT_NEAR(endpoints[0].value("share", 0.0) + endpoints[1].value("share", 0.0), 1.0, 1e-9);
    EXPECT_GT(endpoints[0].value("share", 0.0), 0.9) << result.dump();
  }
}

TEST(UserClientTest, EndpointsFlagErrorsNameTheFlag) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"--endpoints", "127.0.0.1:1", "--mode", "raw"}, "--endpoints needs --mode pool"},
      {{"--endpoints", "127.0.0.1:1", "--server", "127.0.0.1:2"}, "mutually exclusive"},
      {{"--endpoints", "127.0.0.1:1,,"}, "--endpoints: the endpoint list"},
      {{"--endpoints", "h:99999"}, "--endpoints: endpoint 'h:99999'"},
      {{"--endpoints", "127.0.0.1:1", "--balancer", "x"}, "--balancer: unknown balancer 'x'"},
  };
  for (const auto& c : cases) {
    const ProcessResult run = RunClient(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.message;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
  }
}

// Ids above the server's users get UserNotFound: a declared exception, counted by its type,
// that leaves the pool's connection in use (the stream is in sync).
TEST_F(ExternalServerTest, DeclaredExceptionsAreCountedByCauseAndKeepTheConnection) {
  for (const char* mode : {"pool", "handwritten"}) {
    SCOPED_TRACE(mode);
    const json result =
        RunClientJson({"--server=" + *address_, "--users=" + std::to_string(2 * kUsers),
                       "--mode=" + std::string(mode), "--threads=2", "--requests=1000"});
    const int not_found = result["failures_by_cause"].value("UserNotFound", 0);
    EXPECT_GT(not_found, 100) << result.dump();
    EXPECT_EQ(result.value("failed", -1), not_found) << result.dump();
    EXPECT_EQ(result.value("ok", 0) + not_found, 1000) << result.dump();
    EXPECT_EQ(result.value("wrong_answers", -1), 0);
    EXPECT_LE(result.value("connections_created", 99), 2) << result.dump();
    EXPECT_EQ(result["pool"].value("closed_broken", -1), 0) << result.dump();
  }
}

// Nothing listens: every request fails fast with a refused connect, counted by cause; with no
// success at all the exit status is 1.
TEST(UserClientTest, NoListenerCountsFailuresAndExitsWith1) {
  RefusingPort refusing;
  for (const char* mode : kEveryMode) {
    SCOPED_TRACE(mode);
    const json result =
        RunClientJson({"--server", "127.0.0.1:" + std::to_string(refusing.port()), "--mode", mode,
                       "--threads", "2", "--requests", "40", "--connect-timeout-ms", "500"},
                      /*expected_exit=*/1);
    EXPECT_EQ(result.value("ok", -1), 0);
    EXPECT_EQ(result.value("failed", -1), 40);
    EXPECT_EQ(result["failures_by_cause"].value("TTransportException(NOT_OPEN)", 0), 40)
        << result.dump();
    EXPECT_EQ(result.value("connections_created", -1), 0);
  }
}

// Load threads that cannot all be started (here: no address space for their stacks) end the run
// with a message and exit status 1, not with std::terminate on the threads already started.
TEST(UserClientTest, ThreadsThatCannotStartEndTheRunWithAMessage) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizers reserve more address space than the limit allows";
#else
  // 1 GB of address space holds the process and a few dozen 8 MB stacks, never 1024.
  const ProcessResult run =
      RunProcess({"/bin/sh", "-c", "ulimit -s 8192 && ulimit -v 1000000 && exec \"$0\" \"$@\"",
                  USER_CLIENT_PATH, "--threads", "1024", "--requests", "2000"},
                 kRunTimeout);
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_EQ(run.signal, 0) << Describe(run);
  EXPECT_NE(run.err.find("cannot start load thread"), std::string::npos) << Describe(run);
#endif
}

struct BadFlags {
  std::vector<std::string> args;
  std::string named;  // what the message must contain
};

class UserClientBadFlagsTest : public ::testing::TestWithParam<BadFlags> {};

TEST_P(UserClientBadFlagsTest, ExitsWith2NamingTheFlag) {
  const ProcessResult run = RunClient(GetParam().args);
  EXPECT_EQ(run.exit_code, 2) << Describe(run);
  EXPECT_NE(run.err.find(GetParam().named), std::string::npos) << Describe(run);
  EXPECT_EQ(run.out.find("requests"), std::string::npos) << "no run happened: " << run.out;
}

INSTANTIATE_TEST_SUITE_P(
    Flags, UserClientBadFlagsTest,
    ::testing::Values(
        BadFlags{{"--mode", "bogus"}, "--mode"}, BadFlags{{"--mode=pooled"}, "--mode"},
        BadFlags{{"--threads", "0"}, "--threads"}, BadFlags{{"--threads=abc"}, "threads"},
        BadFlags{{"--requests", "0"}, "--requests"},
        BadFlags{{"--requests", "10", "--duration-s", "1"}, "--duration-s"},
        BadFlags{{"--duration-s", "-1"}, "--duration-s"}, BadFlags{{"--users", "0"}, "--users"},
        BadFlags{{"--max-idle", "5", "--max-cap", "2"}, "--max-idle"},
        BadFlags{{"--max-cap", "0"}, "--max-cap"},
        BadFlags{{"--mode", "handwritten", "--max-cap", "0"}, "--max-cap"},
        BadFlags{{"--mode=handwritten", "--max-cap=-2"}, "--max-cap"},
        BadFlags{{"--mode", "handwritten", "--max-cap", "99999999999"}, "--max-cap"},
        BadFlags{{"--initial-cap", "3", "--max-idle", "2"}, "--initial-cap"},
        BadFlags{{"--min-idle", "-1"}, "--min-idle"},
        BadFlags{{"--wait-timeout-ms", "-1"}, "--wait-timeout-ms"},
        BadFlags{{"--hand-off-after-us", "-1"}, "--hand-off-after-us"},
        BadFlags{{"--recv-timeout-ms", "-1"}, "--recv-timeout-ms"},
        BadFlags{{"--transport", "udp"}, "--transport"},
        BadFlags{{"--protocol", "json"}, "--protocol"},
        BadFlags{{"--server", "localhost"}, "--server"},
        BadFlags{{"--server", "127.0.0.1:70000"}, "--server"},
        BadFlags{{"--server", "127.0.0.1:"}, "--server"},
        BadFlags{{"--no-such-flag"}, "no-such-flag"}, BadFlags{{"stray"}, "stray"}));

}  // namespace
}  // namespace thriftpool::tooltest
