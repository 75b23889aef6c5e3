#include "fault_support.h"

#include <cxxabi.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <thrift/Thrift.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/transport_error.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <typeinfo>

namespace thriftpool::faults {
namespace {

// How long `ss` may run.
constexpr milliseconds kCommandTimeout(5000);

[[noreturn]] void ThrowErrno(const std::string& what, int error) {
  throw std::system_error(error, std::generic_category(), what);
}

// Closes a descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string ReadStatusField(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

// Checks `ss -K` on a loopback connection of its own: the client end must die.
std::string ProbeSocketKill() {
  if (geteuid() != 0) {
    return "ss -K needs root (CAP_NET_ADMIN); running as uid " + std::to_string(geteuid());
  }
  ScopedFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener.get(), 4) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return std::string("cannot set up a loopback listener: ") + strerror(errno);
  }
  ScopedFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return std::string("cannot connect on loopback: ") + strerror(errno);
  }
  ScopedFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  const testing_support::ProcessResult ss = testing_support::RunProcess(
      {"ss", "-K", "dst", "127.0.0.1", "dport", "=", ":" + std::to_string(ntohs(address.sin_port))},
      kCommandTimeout);
  // exit_code: -1 if killed, 127 if ss could not be started.
  if (ss.exit_code < 0 || ss.exit_code == 127) return "ss did not run (is iproute2 installed?)";
  pollfd events{client.get(), POLLIN, 0};
  if (poll(&events, 1, 1000) != 1 || (events.revents & (POLLERR | POLLHUP)) == 0) {
    return "ss -K left the socket alive (kernel without CONFIG_INET_DIAG_DESTROY?)";
  }
  return "";
}

// Whether every thread of process `pid` is stopped (state 'T' in /proc/PID/task/TID/stat).
bool AllThreadsStopped(pid_t pid) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) return false;
  bool stopped = true;
  int seen = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream stat(tasks + "/" + entry->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    // "TID (comm) STATE ...": the state follows the last ')' (comm may contain one).
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) continue;  // the thread ended
    ++seen;
    if (line[close + 2] != 'T' && line[close + 2] != 't') stopped = false;
  }
  closedir(dir);
  return stopped && seen > 0;
}

}  // namespace

bool UnderSanitizer() {
#ifdef THRIFTPOOL_FAULTS_SANITIZED
  return true;
#else
  return false;
#endif
}

double SlowdownFactor() { return UnderSanitizer() ? 4.0 : 1.0; }

Millis Loose(Millis bound) { return bound * SlowdownFactor(); }

void ReportFigure(const std::string& name, const std::string& text) {
  std::printf("[  FIGURE  ] %s: %s\n", name.c_str(), text.c_str());
  std::fflush(stdout);
  ::testing::Test::RecordProperty(name, text);
}

::testing::AssertionResult IsUser(const example::User& user, std::int64_t id) {
  const std::string name = "user-" + std::to_string(id);
  const std::string email = name + "@example.com";
  if (user.id == id && user.name == name && user.email == email) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "getUser(" << id << ") answered id " << user.id << ", name '" << user.name
         << "', email '" << user.email << "'";
}

example::User GetUser(UserPool& pool, std::int64_t id, CallOptions call) {
  example::User user;
  pool.Call([&](example::UserServiceClient& client) { client.getUser(user, id); }, call);
  return user;
}

void FillIdle(UserPool& pool, std::size_t count) {
  {
    std::vector<Lease<UserPool::Conn>> leases;
    for (std::size_t i = 0; i < count; ++i) leases.push_back(pool.Get());
  }
  ASSERT_EQ(pool.Len(), count) << "the pool did not keep every returned connection";
}

std::string DescribeCurrentException() {
  using apache::thrift::transport::TTransportException;
  try {
    throw;
  } catch (const TTransportException& e) {
    return std::string("TTransportException(") + TransportErrorKind(e.getType()) + "): " + e.what();
  } catch (const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::string described = (status == 0 ? name : typeid(e).name()) + std::string(": ") + e.what();
    std::free(name);
    return described;
  } catch (...) {
    return "unknown exception";
  }
}

std::uint64_t CallOutcomes::failed() const {
  std::uint64_t total = 0;
  for (const auto& [cause, count] : failures_by_cause) total += count;
  return total;
}

bool CallOutcomes::Check(const GetUserFn& get_user, std::int64_t id) {
  example::User user;
  const Stopwatch call;
  try {
    get_user(user, id);
  } catch (...) {
    max_failure_latency = std::max(max_failure_latency, call.Elapsed());
    const std::string described = DescribeCurrentException();
    // Grouped by type and kind; the message (which names ports and fds) only once.
    ++failures_by_cause[described.substr(0, described.find(": "))];
    if (first_failure.empty()) first_failure = described;
    return false;
  }
  const ::testing::AssertionResult right = IsUser(user, id);
  if (right) {
    ++ok;
  } else if (wrong++ == 0) {
    first_wrong = right.message();
  }
  return right;
}

std::string CallOutcomes::Summary() const {
  std::ostringstream out;
  out << ok << " ok, " << wrong << " wrong, " << failed() << " failed";
  for (const auto& [cause, count] : failures_by_cause) out << " [" << cause << " x" << count << "]";
  out << "; slowest failure " << max_failure_latency.count() << " ms";
  if (!first_wrong.empty()) out << "; first wrong: " << first_wrong;
  if (!first_failure.empty()) out << "; first failure: " << first_failure;
  return out.str();
}

void CallOutcomes::Merge(const CallOutcomes& other) {
  ok += other.ok;
  wrong += other.wrong;
  for (const auto& [cause, count] : other.failures_by_cause) failures_by_cause[cause] += count;
  max_failure_latency = std::max(max_failure_latency, other.max_failure_latency);
  if (first_wrong.empty()) first_wrong = other.first_wrong;
  if (first_failure.empty()) first_failure = other.first_failure;
}

GetUserLoad::GetUserLoad(int threads, GetUserFn get_user, milliseconds pause, std::int64_t max_id)
    : outcomes_(threads) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, t, get_user, pause, max_id] {
      CallOutcomes& out = outcomes_[t];
      std::mt19937_64 random(static_cast<std::uint64_t>(t) + 1);
      std::uniform_int_distribution<std::int64_t> ids(1, max_id);
      while (!stop_.load()) {
        if (out.Check(get_user, ids(random))) ok_so_far_.fetch_add(1);
        if (pause.count() > 0) std::this_thread::sleep_for(pause);
      }
    });
  }
}

GetUserLoad::~GetUserLoad() { Stop(); }

CallOutcomes GetUserLoad::Stop() {
  stop_.store(true);
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  CallOutcomes merged;
  for (const CallOutcomes& out : outcomes_) merged.Merge(out);
  return merged;
}

int OpenFdCount() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) ThrowErrno("opendir /proc/self/fd", errno);
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor
}

std::int64_t PeakRssKib() {
  const std::string value = ReadStatusField("VmHWM");
  return value.empty() ? -1 : std::stoll(value);
}

bool ResetPeakRss() {
  // "5" resets the peak RSS to the current RSS (Linux 4.0+).
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

bool KillSocketsTo(int port) {
  return testing_support::RunProcess(
             {"ss", "-K", "dst", "127.0.0.1", "dport", "=", ":" + std::to_string(port)},
             kCommandTimeout)
             .exit_code == 0;
}

const std::string& SocketKillUnavailableReason() {
  static const std::string reason = ProbeSocketKill();
  return reason;
}

ServerProcess::ServerProcess(Options options) : options_(std::move(options)) {
  port_ = options_.port;
  Launch();
}

ServerProcess::~ServerProcess() = default;

void ServerProcess::Launch() {
  std::vector<std::string> argv = options_.prefix;
  argv.push_back(USER_SERVER_PATH);
  argv.push_back("--host=" + options_.host);
  argv.push_back("--port=" + std::to_string(port_));
  argv.insert(argv.end(), options_.flags.begin(), options_.flags.end());
  // stderr inherited: the server's log shows in the test's output.
  process_ = std::make_unique<testing_support::ChildProcess>(
      argv, testing_support::ChildProcess::StderrMode::kInherit);
  const std::optional<std::string> line =
      process_->ReadLine(std::chrono::duration_cast<milliseconds>(Loose(Millis(5000))));
  const std::string expected = "listening on " + options_.host + ":";
  if (!line || line->rfind(expected, 0) != 0) {
    throw std::runtime_error("user_server did not report listening (got '" +
                             line.value_or("<nothing>") + "')");
  }
  port_ = std::stoi(line->substr(expected.size()));
}

std::optional<int> ServerProcess::Terminate() {
  process_->Signal(SIGCONT);  // a stopped process would not act on SIGTERM
  process_->Signal(SIGTERM);
  return process_->Wait(std::chrono::duration_cast<milliseconds>(Loose(Millis(5000))));
}

void ServerProcess::Kill() {
  process_->Signal(SIGKILL);
  process_->Wait(std::chrono::duration_cast<milliseconds>(Loose(Millis(5000))));
}

void ServerProcess::Restart() { Launch(); }

void ServerProcess::Pause() {
  process_->Signal(SIGSTOP);
  WaitFor([&] { return AllThreadsStopped(process_->pid()); }, milliseconds(2000));
}

void ServerProcess::Resume() { process_->Signal(SIGCONT); }

pid_t ServerProcess::pid() const { return process_->pid(); }

std::optional<std::string> ServerProcess::ReadLine(milliseconds timeout) {
  return process_->ReadLine(timeout);
}

const std::string& ServerProcess::out() const { return process_->out(); }

StatsSampler::StatsSampler(Source source) : source_(std::move(source)) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      const PoolStats stats = source_();
      max_open_ = std::max(max_open_, stats.open);
      max_committed_ = std::max(max_committed_, stats.open + stats.creating + stats.closing);
      ++samples_;
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
}

StatsSampler::~StatsSampler() { Stop(); }

void StatsSampler::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace thriftpool::faults
