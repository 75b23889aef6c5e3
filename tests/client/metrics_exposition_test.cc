// The Prometheus exposition after real calls against a real UserServer: Prometheus' own linter
// (`promtool check metrics`, Debian package prometheus) accepts it with a ThriftClientPool and a
// ChannelPool registered, and the call series agree with the pool's Stats().
#include <glog/logging.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <thriftpool/channel_pool.h>
#include <thriftpool/metrics_registry.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/user_server.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "UserService.h"

namespace thriftpool {
namespace {

using example::User;
using example::UserNotFound;
using example::UserServiceClient;
using std::chrono::milliseconds;
using UserPool = ThriftClientPool<UserServiceClient>;

// The value of the sample line that starts with `series` + " ", or -1.
double Sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  std::size_t at = text.rfind("\n" + prefix);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + 1 + prefix.size()));
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs `command` through the shell with `input` on its stdin; returns its exit code and output.
CommandResult RunWithInput(const std::string& command, const std::string& input) {
  char path[] = "/tmp/thriftpool_metrics_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {};
  close(fd);
  std::ofstream(path) << input;
  CommandResult result;
  FILE* pipe = popen((command + " < " + path + " 2>&1").c_str(), "r");
  if (pipe != nullptr) {
    char buffer[512];
    while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) result.output += buffer;
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::remove(path);
  return result;
}

class MetricsExpositionTest : public ::testing::Test {
 protected:
  MetricsExpositionTest() {
    example::UserServerOptions options;
    options.users = 100;
    server_ = std::make_unique<example::UserServer>(options);
    server_->Start();
    client_.port = server_->port();
    client_.recv_timeout = milliseconds(200);
    pool_.max_cap = 2;
    pool_.max_idle = 2;
    pool_.metrics_name = "users";
  }

  std::unique_ptr<example::UserServer> server_;
  ClientOptions client_;
  PoolOptions pool_;
};

TEST_F(MetricsExpositionTest, PromtoolAcceptsTheExpositionAfterRealCalls) {
  UserPool users(client_, pool_);
  User user;
  for (int id = 1; id <= 5; ++id) {
    users.Call([&](UserServiceClient& c) { c.getUser(user, id); }, kIdempotent);
  }
  EXPECT_THROW(users.Call([&](UserServiceClient& c) { c.getUser(user, 1000000); }), UserNotFound);
  // Sent, then the 200 ms receive timeout: a transport error, not retried (not idempotent).
  EXPECT_ANY_THROW(users.Call([](UserServiceClient& c) { c.sleepMs(1000); }));

  // A generic pool beside it, with a label value that needs escaping.
  PoolOptions generic;
  generic.metrics_name = "generic \"pool\"";
  ChannelPool<int> ints(
      generic, [] { return std::make_unique<int>(1); }, [](int&) {});
  ints.Put(ints.Get());

  const std::string text = MetricsRegistry::Default().Render();
  // The linter is strict (a counter without _total fails it), so its silence means something.
  ASSERT_NE(RunWithInput("promtool check metrics", "# TYPE foo counter\nfoo 1\n").exit_code, 0);
  const CommandResult lint = RunWithInput("promtool check metrics", text);
  EXPECT_EQ(lint.exit_code, 0) << lint.output << "\n" << text;
  EXPECT_EQ(lint.output, "") << text;

  const ClientPoolStats stats = users.Stats();
  EXPECT_EQ(stats.calls, 7u);
  EXPECT_EQ(Sample(text, "thriftpool_calls_total{pool=\"users\",outcome=\"ok\"}"), 5);
  EXPECT_EQ(Sample(text, "thriftpool_calls_total{pool=\"users\",outcome=\"declared_exception\"}"),
            1);
  EXPECT_EQ(Sample(text, "thriftpool_calls_total{pool=\"users\",outcome=\"transport_error\"}"), 1);
  EXPECT_EQ(Sample(text, "thriftpool_call_duration_seconds_count{pool=\"users\"}"), 7);
  // The timed-out call alone took 200 ms.
  EXPECT_GE(Sample(text, "thriftpool_call_duration_seconds_sum{pool=\"users\"}"), 0.19);
  EXPECT_EQ(Sample(text, "thriftpool_retries_total{pool=\"users\"}"), stats.retries);
  EXPECT_EQ(Sample(text, "thriftpool_connections_created_total{pool=\"users\"}"),
            stats.pool.created);
  EXPECT_EQ(Sample(text, "thriftpool_connections_closed_total{pool=\"users\",reason=\"broken\"}"),
            stats.pool.closed_broken);
  EXPECT_EQ(Sample(text, "thriftpool_acquire_seconds_count{pool=\"users\"}"), 7);
  EXPECT_EQ(Sample(text, "thriftpool_usage_seconds_count{pool=\"users\"}"), 7);
  EXPECT_EQ(Sample(text, "thriftpool_connections_created_total{pool=\"generic \\\"pool\\\"\"}"), 1);
}

TEST_F(MetricsExpositionTest, RetriesAndCallsWithoutAConnectionAreCounted) {
  UserPool users(client_, pool_);
  User user;
  users.Call([&](UserServiceClient& c) { c.getUser(user, 1); }, kIdempotent);
  // The server resets the idle connection (returned within ping_skip_window, so not probed):
  // the call fails on it and is retried.
  server_->KillConnections();
  for (int i = 0; i < 400 && server_->connection_count() > 0; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  users.Call([&](UserServiceClient& c) { c.getUser(user, 2); }, kIdempotent);
  users.Release();
  EXPECT_ANY_THROW(users.Call([&](UserServiceClient& c) { c.getUser(user, 3); }));

  const std::string text = MetricsRegistry::Default().Render();
  const ClientPoolStats stats = users.Stats();
  EXPECT_EQ(Sample(text, "thriftpool_calls_total{pool=\"users\",outcome=\"ok\"}"), 2);
  EXPECT_EQ(Sample(text, "thriftpool_calls_total{pool=\"users\",outcome=\"no_connection\"}"), 1);
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(Sample(text, "thriftpool_retries_total{pool=\"users\"}"), stats.retries);
  EXPECT_EQ(Sample(text, "thriftpool_retries_denied_total{pool=\"users\"}"), stats.retries_denied);
  double sum = 0;
  for (const char* outcome : {"ok", "declared_exception", "application_error", "transport_error",
                              "protocol_error", "other_error", "no_connection"}) {
    sum += Sample(
        text, std::string("thriftpool_calls_total{pool=\"users\",outcome=\"") + outcome + "\"}");
  }
  EXPECT_EQ(sum, stats.calls);
}

TEST_F(MetricsExpositionTest, GoneWithThePool) {
  { UserPool users(client_, pool_); }
  EXPECT_EQ(MetricsRegistry::Default().Render().find("pool=\"users\""), std::string::npos);
  UserPool again(client_, pool_);  // the name is free again
  EXPECT_NE(MetricsRegistry::Default().Render().find("pool=\"users\""), std::string::npos);
}

// Leak detection through ThriftClientPool: a Call whose function holds the connection past the
// threshold is reported with the line of the Call, as is a lease from Get.
TEST_F(MetricsExpositionTest, LeakReportsNameTheCallersLine) {
  struct Capture : google::LogSink {
    Capture() { google::AddLogSink(this); }
    ~Capture() override { google::RemoveLogSink(this); }
    void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
              const char* message, std::size_t length) override {
      std::lock_guard<std::mutex> lock(mu);
      lines.emplace_back(message, length);
    }
    std::size_t Count(const std::string& text) {
      std::lock_guard<std::mutex> lock(mu);
      std::size_t n = 0;
      for (const std::string& line : lines) n += line.find(text) != std::string::npos ? 1 : 0;
      return n;
    }
    std::mutex mu;
    std::vector<std::string> lines;
  } capture;
  client_.recv_timeout = milliseconds(3000);
  pool_.leak_detection_threshold = milliseconds(100);
  UserPool users(client_, pool_);
  const int call_line = __LINE__ + 1;
  users.Call([](UserServiceClient& c) { c.sleepMs(400); });
  const int get_line = __LINE__ + 1;
  auto lease = users.Get();
  std::this_thread::sleep_for(milliseconds(400));
  lease = {};
  const std::string file = "metrics_exposition_test.cc:";
  EXPECT_EQ(capture.Count(file + std::to_string(call_line) + " has been held"), 1u);
  EXPECT_EQ(capture.Count(file + std::to_string(get_line) + " has been held"), 1u);
  EXPECT_EQ(capture.Count("came back"), 2u);
  EXPECT_EQ(users.Stats().pool.leaks_detected, 2u);
  EXPECT_EQ(Sample(MetricsRegistry::Default().Render(),
                   "thriftpool_leaks_detected_total{pool=\"users\"}"),
            2);
}

}  // namespace
}  // namespace thriftpool
