// user_client --etcd and user_server --etcd as processes, against a real etcd: the client finds
// the registered servers and reports each one's share; bad flags and an unreachable etcd are
// refused with a message naming what is wrong.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../faults/fault_support.h"
#include "etcd_process.h"
#include "support/child_process.h"
#include "support/loopback_port.h"

namespace thriftpool::faults {
namespace {

using testing_support::ProcessResult;
using testing_support::RunProcess;

ProcessResult RunClient(std::vector<std::string> args) {
  std::vector<std::string> argv = {USER_CLIENT_PATH, "--users", "1000", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, std::chrono::seconds(60));
}

TEST(EtcdToolsTest, UserClientCallsEveryRegisteredServerAndReportsTheirShares) {
  testing_support::EtcdProcess etcd;
  etcd.Start();
  std::vector<std::unique_ptr<ServerProcess>> servers;
  for (int i = 0; i < 2; ++i) {
    ServerProcess::Options options;
    options.flags = {"--users=1000", "--etcd=" + etcd.url(), "--service=users"};
    servers.push_back(std::make_unique<ServerProcess>(options));
    ASSERT_TRUE(servers.back()->ReadLine(milliseconds(10000)).has_value());
  }
  const ProcessResult run = RunClient({"--etcd", etcd.url(), "--service", "users", "--threads", "2",
                                       "--requests", "2000", "--balancer", "rr"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json report =
      nlohmann::json::parse(run.LastOutLine(), nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(report.value("ok", -1), 2000) << run.out;
  EXPECT_EQ(report.value("wrong_answers", -1), 0) << run.out;
  const nlohmann::json& endpoints = report["pool"]["endpoints"];
  ASSERT_EQ(endpoints.size(), 2u) << run.out;
  for (const auto& server : servers) {
    const std::string name = "127.0.0.1:" + std::to_string(server->port());
    bool found = false;
    for (const nlohmann::json& e : endpoints) {
      if (e["endpoint"] != name) continue;
      found = true;
      EXPECT_NEAR(e["share"].get<double>(), 0.5, 0.1) << run.out;
    }
    EXPECT_TRUE(found) << name << " in " << run.out;
  }
  EXPECT_NE(run.out.find("endpoint       " + std::string("127.0.0.1:")), std::string::npos)
      << "the summary lists the endpoints";
}

TEST(EtcdToolsTest, UserClientRefusesBadEtcdFlagsNamingThem) {
  const struct {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--etcd", "http://127.0.0.1:2379"}, "--etcd and --service go together"},
      {{"--service", "users"}, "--etcd and --service go together"},
      {{"--etcd", "http://127.0.0.1:2379", "--service", "users", "--endpoints", "127.0.0.1:1"},
       "mutually exclusive"},
      {{"--etcd", "http://127.0.0.1:2379", "--service", "users", "--mode", "per-call"},
       "--etcd needs --mode pool"},
      {{"--etcd", "ftp://127.0.0.1:2379", "--service", "users"}, "--etcd"},
      {{"--etcd", "http://127.0.0.1:2379", "--service", "a/b"}, "--service"},
  };
  for (const auto& c : cases) {
    const ProcessResult run = RunClient(c.args);
    EXPECT_EQ(run.exit_code, 2) << testing::PrintToString(c.args) << run.err;
    EXPECT_NE(run.err.find(c.message), std::string::npos)
        << testing::PrintToString(c.args) << ": " << run.err;
  }
}

TEST(EtcdToolsTest, UnreachableEtcdFailsBothToolsNamingTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(testing_support::FreeLoopbackPort());
  const Stopwatch elapsed;
  const ProcessResult client = RunClient({"--etcd", url, "--service", "users"});
  EXPECT_EQ(client.exit_code, 1) << client.err;
  EXPECT_NE(client.err.find(url), std::string::npos) << client.err;

  const ProcessResult server =
      RunProcess({USER_SERVER_PATH, "--etcd", url, "--service", "users"}, std::chrono::seconds(60));
  EXPECT_EQ(server.exit_code, 1) << server.err;
  EXPECT_NE(server.err.find(url), std::string::npos) << server.err;
  EXPECT_LT(elapsed.Elapsed(), Loose(Millis(20000))) << "bounded by the request timeouts";

  const ProcessResult half =
      RunProcess({USER_SERVER_PATH, "--etcd", url}, std::chrono::seconds(60));
  EXPECT_EQ(half.exit_code, 2) << half.err;
  EXPECT_NE(half.err.find("--service"), std::string::npos) << half.err;
}

}  // namespace
}  // namespace thriftpool::faults
