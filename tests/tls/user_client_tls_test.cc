// user_client's --tls-* flags against an in-process mutual-TLS UserServer: the pool and the
// per-call modes answer everything; without a client certificate every request fails and the
// run exits 1; a bad file is refused naming the flag.
#include <gtest/gtest.h>
#include <thriftpool/user_server.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "tls_test_support.h"

namespace thriftpool::tls_test {
namespace {

using testing_support::ProcessResult;
using testing_support::RunProcess;

ProcessResult RunClient(int port, std::vector<std::string> args) {
  std::vector<std::string> argv = {USER_CLIENT_PATH,
                                   "--server",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--users",
                                   "1000",
                                   "--threads",
                                   "2",
                                   "--requests",
                                   "200",
                                   "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, std::chrono::seconds(60));
}

nlohmann::json Report(const ProcessResult& run) {
  return nlohmann::json::parse(run.LastOutLine(), nullptr, /*allow_exceptions=*/false);
}

TEST(UserClientTls, PoolAndPerCallAnswerEverythingOverMutualTls) {
  example::UserServerOptions options = TlsServer("server", "ca.pem");
  options.users = 1000;
  example::UserServer server(options);
  server.Start();
  for (const char* mode : {"pool", "per-call"}) {
    SCOPED_TRACE(mode);
    const ProcessResult run =
        RunClient(server.port(), {"--mode", mode, "--tls-ca", Cert("ca.pem"), "--tls-cert",
                                  Cert("client.pem"), "--tls-key", Cert("client.key")});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    const nlohmann::json report = Report(run);
    EXPECT_EQ(report.value("ok", -1), 200) << run.out;
    EXPECT_EQ(report.value("failed", -1), 0) << run.out;
    EXPECT_EQ(report.value("wrong_answers", -1), 0) << run.out;
  }
}

TEST(UserClientTls, WithoutTheClientCertificateEveryRequestFails) {
  example::UserServerOptions options = TlsServer("server", "ca.pem");
  options.users = 1000;
  example::UserServer server(options);
  server.Start();
  const ProcessResult run = RunClient(server.port(), {"--tls-ca", Cert("ca.pem")});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const nlohmann::json report = Report(run);
  EXPECT_EQ(report.value("ok", -1), 0) << run.out;
  EXPECT_EQ(report.value("failed", -1), 200) << run.out;
  EXPECT_EQ(server.calls(), 0u);
}

TEST(UserClientTls, AMissingFileIsRefusedNamingTheFlag) {
  const ProcessResult run = RunClient(1, {"--tls-ca", CertDir() + "/no-such-ca.pem"});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("--tls-ca"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace thriftpool::tls_test
