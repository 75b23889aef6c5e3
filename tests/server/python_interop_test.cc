// Debian's python3-thrift, an independent Thrift implementation, calls the C++ server.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <thriftpool/user_server.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <tuple>

#include "support/child_process.h"

namespace thriftpool::example {
namespace {

using testing_support::ChildProcess;

// Not "python3" from PATH: on these machines that is a separate Python without Debian's modules.
constexpr char kPython[] = "/usr/bin/python3";

class PythonInteropTest : public ::testing::TestWithParam<std::tuple<TransportKind, ProtocolKind>> {
};

TEST_P(PythonInteropTest, PythonClientGetsUsersAndUserNotFound) {
  if (access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is missing";
  {
    ChildProcess probe({kPython, "-c", "import thrift"});
    const std::optional<int> status = probe.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      GTEST_SKIP() << "python3-thrift is missing: " << probe.err();
    }
  }
  UserServerOptions options;
  options.transport = std::get<0>(GetParam());
  options.protocol = std::get<1>(GetParam());
  options.users = 100;
  UserServer server(options);
  server.Start();

  ChildProcess client({kPython, PYTHON_CLIENT_SCRIPT, THRIFT_COMPILER_PATH, USER_SERVICE_IDL,
                       std::to_string(server.port()), ToString(options.transport),
                       ToString(options.protocol), "42", "101"});
  const std::optional<int> status = client.Wait(std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "the Python client is still running";
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "status " << *status << "\nstdout: " << client.out() << "\nstderr: " << client.err();
  EXPECT_EQ(client.out(),
            "42 user-42 user-42@example.com\n"
            "not found: 101\n"
            "created 101\n");
  EXPECT_EQ(server.calls(), 4u);
}

INSTANTIATE_TEST_SUITE_P(
    Stacks, PythonInteropTest,
    ::testing::Values(std::make_tuple(TransportKind::kBuffered, ProtocolKind::kBinary),
                      std::make_tuple(TransportKind::kFramed, ProtocolKind::kCompact)),
    [](const auto& info) {
      return std::string(ToString(std::get<0>(info.param))) + "_" +
             ToString(std::get<1>(info.param));
    });

}  // namespace
}  // namespace thriftpool::example
