// Helpers shared by the fault tests: the user_server binary as a child process (started through
// support/child_process.h, which also runs `ss` and `ip`), socket kills, descriptor and memory
// accounting, timing, and answer checks.
//
// Every wait here is bounded; every child is killed and reaped by its owner's destructor, so a
// failing assertion never leaves a stopped server or a stray process behind.
#ifndef THRIFTPOOL_TESTS_FAULTS_FAULT_SUPPORT_H_
#define THRIFTPOOL_TESTS_FAULTS_FAULT_SUPPORT_H_

#include <gtest/gtest.h>
#include <sys/types.h>
#include <thriftpool/pool_stats.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "UserService.h"
#include "support/child_process.h"
#include "support/wait_for.h"

// Defined in ASan and TSan builds (GCC's and Clang's spellings).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define THRIFTPOOL_FAULTS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define THRIFTPOOL_FAULTS_SANITIZED 1
#endif
#endif

namespace thriftpool::faults {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
// Fractional milliseconds, for reporting and comparing measured durations.
using Millis = std::chrono::duration<double, std::milli>;

// True in ASan/TSan builds, where everything runs several times slower: upper time bounds are
// multiplied by SlowdownFactor() so that they stay meaningful without flaking. Lower bounds (a
// timeout must not fire early) are never relaxed.
bool UnderSanitizer();
double SlowdownFactor();
// `bound` scaled by SlowdownFactor().
Millis Loose(Millis bound);

class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  Millis Elapsed() const { return Clock::now() - start_; }
  void Restart() { start_ = Clock::now(); }

 private:
  Clock::time_point start_;
};

using testing_support::WaitFor;

// Prints a measured figure ("[  FIGURE  ] name: text") for the test log and records it as a test
// property (in the XML report), so that runs can be compared without re-reading the code.
void ReportFigure(const std::string& name, const std::string& text);

// Threads joined when the group is destroyed, so that a failed ASSERT in the test body (which
// returns early) never destroys a joinable std::thread.
class ThreadGroup {
 public:
  ThreadGroup() = default;
  ~ThreadGroup() { JoinAll(); }
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  template <typename Fn>
  void Start(Fn fn) {
    threads_.emplace_back(std::move(fn));
  }
  void JoinAll() {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  std::vector<std::thread> threads_;
};

// Whether `user` is the right answer to getUser(id): id, name and email all match.
::testing::AssertionResult IsUser(const example::User& user, std::int64_t id);

using UserPool = ThriftClientPool<example::UserServiceClient>;

// A fixture: an in-process UserServer on 127.0.0.1 started by SetUp, client options pointing at
// it (receive timeout 2 s), and pool options of max_cap = max_idle = `pool_size`.
class ServerAndPoolTest : public ::testing::Test {
 protected:
  ServerAndPoolTest(const example::UserServerOptions& server_options, std::size_t pool_size)
      : server_(server_options), pool_size_(pool_size) {}
  void SetUp() override {
    server_.Start();
    client_.port = server_.port();
    client_.recv_timeout = milliseconds(2000);
    pool_options_.max_cap = pool_size_;
    pool_options_.max_idle = pool_size_;
  }

  example::UserServer server_;
  ClientOptions client_;
  PoolOptions pool_options_;

 private:
  const std::size_t pool_size_;
};

// getUser(id) through pool.Call.
example::User GetUser(UserPool& pool, std::int64_t id, CallOptions call);

// Opens `count` connections at once (leasing them together) and returns them all, so that the
// pool holds `count` idle connections. Fails the test if it does not.
void FillIdle(UserPool& pool, std::size_t count);

// What went wrong, for reports and for grouping failures: the exception's type, the transport
// error's kind where there is one, and its message. Call only inside a catch block.
std::string DescribeCurrentException();

// Makes one getUser(id) call somehow (through a pool, a raw client...), filling `user`.
using GetUserFn = std::function<void(example::User& user, std::int64_t id)>;

// Outcomes of many getUser calls, merged over threads.
struct CallOutcomes {
  // Makes one call and records how it went; true if it returned the right user.
  bool Check(const GetUserFn& get_user, std::int64_t id);

  std::uint64_t ok = 0;
  std::uint64_t wrong = 0;  // answered, but not with the user asked for
  std::map<std::string, std::uint64_t> failures_by_cause;  // cause: type and transport kind
  Millis max_failure_latency{0};
  std::string first_wrong;
  std::string first_failure;
  std::uint64_t failed() const;
  // One line for test logs and assertion messages.
  std::string Summary() const;
  void Merge(const CallOutcomes& other);
};

// Threads calling getUser(random id) through `get_user` until Stop, checking every answer.
class GetUserLoad {
 public:
  // Starts `threads` threads; each pauses `pause` after every call. Ids are drawn from 1..max_id.
  GetUserLoad(int threads, GetUserFn get_user, milliseconds pause = milliseconds(0),
              std::int64_t max_id = 100000);
  ~GetUserLoad();
  GetUserLoad(const GetUserLoad&) = delete;
  GetUserLoad& operator=(const GetUserLoad&) = delete;

  // Successful calls so far (live).
  std::uint64_t ok_so_far() const { return ok_so_far_.load(); }
  // Stops and joins the threads (idempotent); the merged outcomes.
  CallOutcomes Stop();

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ok_so_far_{0};
  std::vector<CallOutcomes> outcomes_;  // one per thread, read after the join
  std::vector<std::thread> threads_;
};

// Open file descriptors of this process (entries of /proc/self/fd).
int OpenFdCount();

// Peak resident set size (VmHWM) in KiB, and a reset of that peak to the current RSS (through
// /proc/self/clear_refs), so that a test can measure its own peak. Reset returns false if the
// kernel refused.
std::int64_t PeakRssKib();
bool ResetPeakRss();

// Destroys every TCP socket of this host connected to 127.0.0.1:port (`ss -K`), the way a
// firewall or a conntrack flush kills connections: their owner sees ECONNABORTED, the peer a
// reset. Returns false if ss failed.
bool KillSocketsTo(int port);
// Empty if KillSocketsTo works here (root, an ss with -K, and a kernel with
// CONFIG_INET_DIAG_DESTROY, verified once on a loopback connection); otherwise why not.
const std::string& SocketKillUnavailableReason();

// The user_server binary as a child process, for faults that need a whole process: SIGTERM and
// a restart on the same port, SIGSTOP/SIGCONT.
class ServerProcess {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0: any free port, kept across Restart
    // Extra flags, e.g. {"--idle-timeout-ms=300"}.
    std::vector<std::string> flags;
    // Runs the binary through this prefix, e.g. {"ip", "netns", "exec", "ns"}.
    std::vector<std::string> prefix;
  };
  // Starts the server and waits (5 s at most) for its "listening on HOST:PORT" line. Throws
  // std::runtime_error if it does not come.
  explicit ServerProcess(Options options);
  // Continues and kills the server if it runs.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  // SIGTERM, then waits for the exit; its wait status (nullopt if it hung and was killed).
  std::optional<int> Terminate();
  // SIGKILL, then waits for the exit: the process dies without closing anything itself.
  void Kill();
  // Starts the server again on the same port (after Terminate).
  void Restart();
  // SIGSTOP / SIGCONT: the kernel still accepts connections, nobody answers. Pause returns once
  // every thread of the server is stopped (a signal takes effect asynchronously: a thread busy
  // on another CPU could answer a few more calls), or after 2 s.
  void Pause();
  void Resume();
  pid_t pid() const;
  // The server's next stdout line after "listening on" (user_server --etcd prints "etcd: KEY"
  // once registered, and "left etcd: ..." after a SIGTERM); std::nullopt if none comes in time.
  std::optional<std::string> ReadLine(milliseconds timeout);
  // All it wrote to stdout since its last (re)start; complete once Terminate or Kill returned.
  const std::string& out() const;

 private:
  void Launch();

  Options options_;
  int port_ = 0;
  std::unique_ptr<testing_support::ChildProcess> process_;
};

// Records the limits a pool must keep, from Stats snapshots taken by a background thread every
// millisecond until Stop (or destruction).
class StatsSampler {
 public:
  using Source = std::function<PoolStats()>;
  explicit StatsSampler(Source source);
  ~StatsSampler();
  StatsSampler(const StatsSampler&) = delete;
  StatsSampler& operator=(const StatsSampler&) = delete;

  void Stop();
  // After Stop: the largest open, and largest open + creating + closing, seen in any snapshot.
  std::size_t max_open() const { return max_open_; }
  std::size_t max_committed() const { return max_committed_; }
  std::uint64_t samples() const { return samples_; }

 private:
  Source source_;
  std::atomic<bool> stop_{false};
  std::size_t max_open_ = 0;
  std::size_t max_committed_ = 0;
  std::uint64_t samples_ = 0;
  std::thread thread_;
};

}  // namespace thriftpool::faults

#endif  // THRIFTPOOL_TESTS_FAULTS_FAULT_SUPPORT_H_
