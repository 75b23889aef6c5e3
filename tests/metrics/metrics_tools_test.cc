// user_client and user_server with --metrics-port, as processes: the URL line, scrapes during
// and after a run agreeing with the JSON report, bad flags, a port in use.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "http_test_client.h"
#include "support/child_process.h"
#include "support/silent_listener.h"

namespace thriftpool::metrics_test {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using testing_support::ChildProcess;
using testing_support::ProcessResult;
using testing_support::RunProcess;

// The port of a "metrics: http://127.0.0.1:PORT/metrics" line; 0 if the line is not one.
int MetricsPortOf(const std::optional<std::string>& line) {
  static const std::regex kLine(R"(metrics: http://127\.0\.0\.1:(\d+)/metrics)");
  std::smatch match;
  if (!line || !std::regex_match(*line, match, kLine)) return 0;
  return std::stoi(match[1]);
}

// The value of the sample `series` (name and labels, exactly as exposed); -1 if absent.
double SampleValue(const std::string& exposition, const std::string& series) {
  const std::size_t at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(exposition.substr(at + series.size() + 2));
}

TEST(UserClientMetricsTest, ServesThePoolDuringTheRunAndTheFinalFiguresWhileLingering) {
  ChildProcess client({USER_CLIENT_PATH, "--duration-s", "1.5", "--threads", "2", "--metrics-port",
                       "0", "--metrics-linger-ms", "3000", "--json"});
  const int port = MetricsPortOf(client.ReadLine(seconds(10)));
  ASSERT_GT(port, 0) << client.out() << client.err();

  // The endpoint is up before the pool exists (the line comes first); the pool registers soon.
  const std::string max_cap = "thriftpool_connections_max{pool=\"user_client\"} 2\n";
  std::optional<HttpResponse> during;
  for (int i = 0; i < 100 && (!during || during->body.find(max_cap) == std::string::npos); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    during = HttpGet(port, "/metrics");
  }
  ASSERT_TRUE(during.has_value());
  EXPECT_EQ(during->status, 200);
  EXPECT_EQ(during->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(during->body.find(max_cap), std::string::npos) << during->body;

  std::optional<std::string> line;
  while ((line = client.ReadLine(seconds(30))) && (line->empty() || line->front() != '{')) {
  }
  ASSERT_TRUE(line.has_value()) << client.out() << client.err();
  const json report = json::parse(*line);
  const std::optional<HttpResponse> after = HttpGet(port, "/metrics");
  ASSERT_TRUE(after.has_value()) << "not served while lingering";
  EXPECT_EQ(SampleValue(after->body, "thriftpool_calls_total{pool=\"user_client\",outcome=\"ok\"}"),
            report.at("ok").get<double>())
      << after->body;
  EXPECT_EQ(SampleValue(after->body, "thriftpool_connections_created_total{pool=\"user_client\"}"),
            report.at("connections_created").get<double>())
      << after->body;

  const std::optional<int> status = client.Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << client.err();
  EXPECT_FALSE(HttpGet(port, "/metrics", seconds(2)).has_value()) << "still served after exit";
}

TEST(UserClientMetricsTest, BadMetricsFlagsAreRefusedNamingTheFlag) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } kCases[] = {
      {{"--metrics-port", "65536"}, "--metrics-port"},
      {{"--metrics-port", "-2"}, "--metrics-port"},
      {{"--metrics-linger-ms", "100"}, "--metrics-linger-ms needs --metrics-port"},
      {{"--metrics-port", "0", "--metrics-linger-ms", "-1"}, "--metrics-linger-ms"},
  };
  for (const auto& c : kCases) {
    std::vector<std::string> argv = {USER_CLIENT_PATH};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const ProcessResult run = RunProcess(argv, seconds(30));
    EXPECT_EQ(run.exit_code, 2) << c.message << "\n" << run.err;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
  }
}

TEST(UserClientMetricsTest, APortInUseFailsNamingTheAddress) {
  testing_support::SilentListener taken;
  const ProcessResult run = RunProcess(
      {USER_CLIENT_PATH, "--requests", "10", "--metrics-port", std::to_string(taken.port())},
      seconds(30));
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("127.0.0.1:" + std::to_string(taken.port())), std::string::npos)
      << run.err;
}

TEST(UserServerMetricsTest, ServesTheRegistryAfterTheListeningLine) {
  ChildProcess server({USER_SERVER_PATH, "--port=0", "--metrics-port=0"});
  const std::optional<std::string> listening = server.ReadLine(seconds(10));
  ASSERT_TRUE(listening && listening->rfind("listening on ", 0) == 0) << server.err();
  const int port = MetricsPortOf(server.ReadLine(seconds(10)));
  ASSERT_GT(port, 0) << server.out() << server.err();
  const std::optional<HttpResponse> response = HttpGet(port, "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  // No pool in the server: the families with their HELP and TYPE only.
  EXPECT_NE(response->body.find("# TYPE thriftpool_connections gauge\n"), std::string::npos)
      << response->body;
  server.Signal(SIGTERM);
  const std::optional<int> status = server.Wait(seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << server.err();
}

TEST(UserServerMetricsTest, APortInUseFailsBeforeListening) {
  testing_support::SilentListener taken;
  const ProcessResult run =
      RunProcess({USER_SERVER_PATH, "--port=0", "--metrics-port=" + std::to_string(taken.port())},
                 seconds(30));
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.out.find("listening on"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("127.0.0.1:" + std::to_string(taken.port())), std::string::npos)
      << run.err;
  EXPECT_EQ(RunProcess({USER_SERVER_PATH, "--metrics-port=65536"}, seconds(30)).exit_code, 2);
}

}  // namespace
}  // namespace thriftpool::metrics_test
