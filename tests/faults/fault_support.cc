#include "fault_support.h"

#include <cxxabi.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thrift/Thrift.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>
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

extern char** environ;

namespace thriftpool::faults {
namespace {

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

// The file actions and attributes of one posix_spawn, released on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
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
  const std::optional<int> code = RunCommand({"ss", "-K", "dst", "127.0.0.1", "dport", "=",
                                              ":" + std::to_string(ntohs(address.sin_port))});
  if (!code) return "ss did not run (is iproute2 installed?)";
  pollfd events{client.get(), POLLIN, 0};
  if (poll(&events, 1, 1000) != 1 || (events.revents & (POLLERR | POLLHUP)) == 0) {
    return "ss -K left the socket alive (kernel without CONFIG_INET_DIAG_DESTROY?)";
  }
  return "";
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
    static const char* const kKinds[] = {"UNKNOWN",        "NOT_OPEN",       "TIMED_OUT",
                                         "END_OF_FILE",    "INTERRUPTED",    "BAD_ARGS",
                                         "CORRUPTED_DATA", "INTERNAL_ERROR", "CLIENT_DISCONNECT"};
    const int kind = static_cast<int>(e.getType());
    return std::string("TTransportException(") + (kind >= 0 && kind < 9 ? kKinds[kind] : "?") +
           "): " + e.what();
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

Subprocess::Subprocess(const std::vector<std::string>& argv, Io io) {
  if (argv.empty()) throw std::invalid_argument("Subprocess: empty argv");
  int out[2] = {-1, -1};
  if (io.capture_stdout && pipe2(out, O_CLOEXEC) != 0) ThrowErrno("pipe2", errno);
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  if (io.capture_stdout) {
    posix_spawn_file_actions_adddup2(&setup.actions, out[1], 1);
  } else {
    posix_spawn_file_actions_addopen(&setup.actions, 1, "/dev/null", O_WRONLY, 0);
  }
  if (io.quiet_stderr)
    posix_spawn_file_actions_addopen(&setup.actions, 2, "/dev/null", O_WRONLY, 0);
  // Thrift opens its sockets without O_CLOEXEC: without this, the child would hold copies.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  // The test may ignore or block signals; the child starts with the defaults.
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&setup.attributes, &signals);
  sigaddset(&signals, SIGPIPE);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  posix_spawnattr_setsigdefault(&setup.attributes, &signals);
  posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int error =
      posix_spawnp(&pid_, args[0], &setup.actions, &setup.attributes, args.data(), environ);
  if (io.capture_stdout) close(out[1]);
  if (error != 0) {
    if (io.capture_stdout) close(out[0]);
    ThrowErrno("posix_spawnp " + argv[0], error);
  }
  out_fd_ = out[0];
}

Subprocess::~Subprocess() {
  if (!status_) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (out_fd_ >= 0) close(out_fd_);
}

std::optional<std::string> Subprocess::ReadLine(milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    const std::size_t newline = buffered_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (out_fd_ < 0 || left.count() <= 0) return std::nullopt;
    pollfd events{out_fd_, POLLIN, 0};
    const int ready = poll(&events, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready <= 0) continue;
    char chunk[512];
    const ssize_t got = read(out_fd_, chunk, sizeof(chunk));
    if (got <= 0) return std::nullopt;  // stdout closed: the line will never come
    buffered_.append(chunk, static_cast<std::size_t>(got));
  }
}

void Subprocess::Signal(int signal_number) const {
  if (!status_) kill(pid_, signal_number);
}

std::optional<int> Subprocess::Wait(milliseconds timeout) {
  const bool ended = WaitFor(
      [&] {
        if (status_) return true;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
        return status_.has_value();
      },
      timeout);
  return ended ? status_ : std::nullopt;
}

std::optional<int> RunCommand(const std::vector<std::string>& argv, milliseconds timeout) {
  try {
    Subprocess::Io io;
    io.capture_stdout = false;
    io.quiet_stderr = true;
    Subprocess command(argv, io);
    const std::optional<int> status = command.Wait(timeout);
    if (!status || !WIFEXITED(*status)) return std::nullopt;
    // posix_spawnp reports a missing program only through the child's exit code 127.
    if (WEXITSTATUS(*status) == 127) return std::nullopt;
    return WEXITSTATUS(*status);
  } catch (const std::system_error&) {
    return std::nullopt;
  }
}

bool KillSocketsTo(int port) {
  const std::optional<int> code =
      RunCommand({"ss", "-K", "dst", "127.0.0.1", "dport", "=", ":" + std::to_string(port)});
  return code.has_value() && *code == 0;
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
  process_ = std::make_unique<Subprocess>(argv);
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

void ServerProcess::Restart() { Launch(); }

void ServerProcess::Pause() { process_->Signal(SIGSTOP); }

void ServerProcess::Resume() { process_->Signal(SIGCONT); }

pid_t ServerProcess::pid() const { return process_->pid(); }

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
