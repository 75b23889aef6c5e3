// A real network partition, in two network namespaces that the test creates and always deletes:
// the client runs in one (a thread moved there with setns), the user_server binary in the other,
// joined by a veth pair with TEST-NET-1 addresses (192.0.2.0/30) that exist only inside them.
// A permanent neighbour entry pointing the server's address at a MAC nobody has drops every
// packet to it (THRIFT_NOTES); deleting the entry heals the partition.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "fault_support.h"
#include "support/child_process.h"

namespace thriftpool::faults {
namespace {

constexpr char kClientAddress[] = "192.0.2.1";
constexpr char kServerAddress[] = "192.0.2.2";
constexpr milliseconds kConnectTimeout(300);
constexpr milliseconds kRecvTimeout(300);

// Two namespaces and the veth pair between them. Create() sets why_not() instead of throwing
// when the host cannot do it; the destructor deletes whatever was created.
class NamespacePair {
 public:
  NamespacePair() {
    const std::string id = std::to_string(getpid());
    client_ns_ = "tpfault-c-" + id;
    server_ns_ = "tpfault-s-" + id;
    client_dev_ = "tpfc" + id;
    server_dev_ = "tpfs" + id;
  }
  ~NamespacePair() {
    // Deleting a namespace destroys the veth end inside it, and with it the pair.
    if (client_created_) Run({"ip", "netns", "del", client_ns_});
    if (server_created_) Run({"ip", "netns", "del", server_ns_});
    Run({"ip", "link", "del", client_dev_});  // only if a step failed half-way
  }
  NamespacePair(const NamespacePair&) = delete;
  NamespacePair& operator=(const NamespacePair&) = delete;

  // Empty on success, else the step that failed.
  std::string Create() {
    if (geteuid() != 0) return "network namespaces need root";
    if (!Run({"ip", "netns", "add", client_ns_})) return "ip netns add failed (no ip netns here?)";
    client_created_ = true;
    if (!Run({"ip", "netns", "add", server_ns_})) return "ip netns add failed";
    server_created_ = true;
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "link", "add", client_dev_, "type", "veth", "peer", "name", server_dev_},
        {"ip", "link", "set", client_dev_, "netns", client_ns_},
        {"ip", "link", "set", server_dev_, "netns", server_ns_},
        {"ip", "-n", client_ns_, "addr", "add", std::string(kClientAddress) + "/30", "dev",
         client_dev_},
        {"ip", "-n", server_ns_, "addr", "add", std::string(kServerAddress) + "/30", "dev",
         server_dev_},
        {"ip", "-n", client_ns_, "link", "set", client_dev_, "up"},
        {"ip", "-n", server_ns_, "link", "set", server_dev_, "up"},
        {"ip", "-n", server_ns_, "link", "set", "lo", "up"},
    };
    for (const std::vector<std::string>& step : steps) {
      if (!Run(step)) return "failed: " + Join(step);
    }
    return "";
  }

  // Packets from the client to the server's address go to a MAC that does not exist.
  bool Partition() {
    return Run({"ip", "-n", client_ns_, "neigh", "replace", kServerAddress, "lladdr",
                "02:00:00:00:00:99", "dev", client_dev_, "nud", "permanent"});
  }
  bool Heal() {
    return Run({"ip", "-n", client_ns_, "neigh", "del", kServerAddress, "dev", client_dev_});
  }

  const std::string& client_ns() const { return client_ns_; }
  const std::string& server_ns() const { return server_ns_; }

 private:
  // Runs an `ip` command (5 s at most); true if it exited with 0.
  static bool Run(const std::vector<std::string>& argv) {
    return testing_support::RunProcess(argv, milliseconds(5000)).exit_code == 0;
  }
  static std::string Join(const std::vector<std::string>& argv) {
    std::string joined;
    for (const std::string& arg : argv) joined += (joined.empty() ? "" : " ") + arg;
    return joined;
  }

  std::string client_ns_, server_ns_, client_dev_, server_dev_;
  bool client_created_ = false;
  bool server_created_ = false;
};

// Runs `body` on a thread of its own that has joined the named network namespace (a thread's
// namespace is its own: the rest of the test process stays where it was).
template <typename Body>
void RunInNamespace(const std::string& ns, Body body) {
  ThreadGroup thread;
  thread.Start([&] {
    const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << "cannot open namespace " << ns;
    const int joined = setns(fd, CLONE_NEWNET);
    close(fd);
    ASSERT_EQ(joined, 0) << "setns " << ns;
    body();
  });
}

TEST(PartitionTest, CallsAndConnectsTimeOutThenRecoverAfterHeal) {
  NamespacePair namespaces;
  if (const std::string why_not = namespaces.Create(); !why_not.empty()) GTEST_SKIP() << why_not;
  ServerProcess::Options server_options;
  server_options.host = kServerAddress;
  server_options.prefix = {"ip", "netns", "exec", namespaces.server_ns()};
  ServerProcess server(server_options);

  RunInNamespace(namespaces.client_ns(), [&] {
    ClientOptions client;
    client.host = kServerAddress;
    client.port = server.port();
    client.connect_timeout = kConnectTimeout;
    client.recv_timeout = kRecvTimeout;
    PoolOptions options;
    options.max_cap = 2;
    options.max_idle = 2;
    UserPool pool(client, options);
    for (std::int64_t id = 1; id <= 50; ++id) {
      ASSERT_TRUE(IsUser(GetUser(pool, id, CallOptions{}), id));
    }
    ASSERT_EQ(pool.Len(), 1u);

    ASSERT_TRUE(namespaces.Partition());
    // On the idle connection: the request leaves, no answer comes.
    std::string call_failure;
    const Stopwatch call;
    try {
      GetUser(pool, 51, CallOptions{});
    } catch (...) {
      call_failure = DescribeCurrentException();
    }
    const Millis call_elapsed = call.Elapsed();
    // The pool is empty now: a Get must dial, and the SYN goes nowhere.
    std::string get_failure;
    const Stopwatch get;
    try {
      pool.Get();
    } catch (...) {
      get_failure = DescribeCurrentException();
    }
    const Millis get_elapsed = get.Elapsed();
    ASSERT_TRUE(namespaces.Heal());

    example::User user;
    const Stopwatch first;
    EXPECT_NO_THROW(user = GetUser(pool, 52, CallOptions{})) << "the first call after the heal";
    const Millis first_elapsed = first.Elapsed();
    EXPECT_TRUE(IsUser(user, 52));
    CallOutcomes after;
    const GetUserFn get_user = [&](example::User& u, std::int64_t id) {
      u = GetUser(pool, id, CallOptions{});
    };
    for (std::int64_t id = 53; id < 553; ++id) after.Check(get_user, id);
    ReportFigure("partition",
                 "call failed after " + std::to_string(call_elapsed.count()) + " ms (" +
                     call_failure + "), Get after " + std::to_string(get_elapsed.count()) +
                     " ms (" + get_failure + "); first call after heal " +
                     std::to_string(first_elapsed.count()) + " ms; then " + after.Summary());
    EXPECT_EQ(call_failure.rfind("TTransportException(TIMED_OUT)", 0), 0u) << call_failure;
    EXPECT_GE(call_elapsed, Millis(kRecvTimeout) * 0.9);
    EXPECT_LE(call_elapsed, Loose(Millis(kRecvTimeout) * 1.5));
    EXPECT_NE(get_failure.find("timed out"), std::string::npos) << get_failure;
    EXPECT_GE(get_elapsed, Millis(kConnectTimeout) * 0.8);
    EXPECT_LE(get_elapsed, Loose(Millis(kConnectTimeout) * 1.2));
    EXPECT_EQ(after.ok, 500u) << after.Summary();
    EXPECT_GE(pool.Stats().pool.closed_broken, 1u);
  });
}

}  // namespace
}  // namespace thriftpool::faults
