#include "support/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace thriftpool::testing_support {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often Wait() checks for the child's end while no output arrives.
constexpr milliseconds kExitPollInterval(2);
// How long Wait() reads the pipes after the child's end.
constexpr milliseconds kDrainAfterExit(1000);
// How long the destructor and RunProcess wait for a child killed with SIGKILL to be reaped.
constexpr milliseconds kReapAfterKill(10000);

[[noreturn]] void ThrowSystemError(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// Time left until `deadline`, rounded up (so that a wait of that long never ends early), never
// negative.
milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
}

// waitpid(2), retried on EINTR.
pid_t WaitPid(pid_t pid, int* status, int options) {
  pid_t done;
  do {
    done = waitpid(pid, status, options);
  } while (done < 0 && errno == EINTR);
  return done;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// A pipe whose ends are closed on destruction unless taken.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) ThrowSystemError(errno, "pipe2");
    read_end_ = fds[0];
    write_end_ = fds[1];
  }
  ~Pipe() {
    CloseFd(&read_end_);
    CloseFd(&write_end_);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int write_end() const { return write_end_; }
  void CloseWriteEnd() { CloseFd(&write_end_); }
  int TakeReadEnd() { return std::exchange(read_end_, -1); }

 private:
  int read_end_ = -1;
  int write_end_ = -1;
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

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, StderrMode stderr_mode) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  Pipe out;
  std::optional<Pipe> err;
  if (stderr_mode == StderrMode::kCapture) err.emplace();

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out.write_end(), STDOUT_FILENO);
  if (err) posix_spawn_file_actions_adddup2(&setup.actions, err->write_end(), STDERR_FILENO);
  // Libraries (Thrift among them) open sockets without O_CLOEXEC: without this, the child would
  // hold copies of them.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
  // The test may block or ignore signals; the child starts with the defaults.
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&setup.attributes, &signals);
  sigaddset(&signals, SIGPIPE);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  posix_spawnattr_setsigdefault(&setup.attributes, &signals);
  posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int error =
      posix_spawnp(&pid_, args[0], &setup.actions, &setup.attributes, args.data(), environ);
  if (error != 0) ThrowSystemError(error, "cannot start " + argv[0]);
  // Only the child may hold the write ends: the pipes reach end-of-file when it is gone.
  out.CloseWriteEnd();
  out_fd_ = out.TakeReadEnd();
  if (err) {
    err->CloseWriteEnd();
    err_fd_ = err->TakeReadEnd();
  }
}

ChildProcess::~ChildProcess() {
  if (!status_) {
    kill(pid_, SIGCONT);  // SIGKILL ends a stopped process too; this is for good measure
    kill(pid_, SIGKILL);
    const Clock::time_point deadline = Clock::now() + kReapAfterKill;
    int status = 0;
    while (WaitPid(pid_, &status, WNOHANG) == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
  CloseFd(&out_fd_);
  CloseFd(&err_fd_);
}

void ChildProcess::Pump(milliseconds timeout) {
  // poll() skips negative descriptors (pipes closed at their end-of-file); with none left it
  // just sleeps for the timeout.
  pollfd fds[] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (poll(fds, 2, static_cast<int>(timeout.count())) <= 0) return;  // timeout or EINTR
  int* const pipe_fds[] = {&out_fd_, &err_fd_};
  std::string* const sinks[] = {&out_, &err_};
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || fds[i].revents == 0) continue;
    char buffer[4096];
    const ssize_t got = read(fds[i].fd, buffer, sizeof(buffer));
    if (got > 0) {
      sinks[i]->append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      CloseFd(pipe_fds[i]);  // end-of-file, or an error that will not go away
    }
  }
}

std::optional<std::string> ChildProcess::ReadLine(milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const std::size_t end = out_.find('\n', out_consumed_);
    if (end != std::string::npos) {
      std::string line = out_.substr(out_consumed_, end - out_consumed_);
      out_consumed_ = end + 1;
      return line;
    }
    const milliseconds left = Left(deadline);
    if (out_fd_ < 0 || left.count() == 0) return std::nullopt;
    Pump(left);
  }
}

void ChildProcess::Signal(int signal_number) {
  if (!status_) kill(pid_, signal_number);
}

std::optional<int> ChildProcess::Wait(milliseconds timeout) {
  if (status_) return status_;
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = WaitPid(pid_, &status, WNOHANG);
    if (done < 0) ThrowSystemError(errno, "waitpid " + std::to_string(pid_));
    if (done == pid_) {
      status_ = status;
      break;
    }
    const milliseconds left = Left(deadline);
    if (left.count() == 0) return std::nullopt;
    Pump(std::min(left, kExitPollInterval));
  }
  // What the child wrote last waits in the pipes.
  const Clock::time_point drain_deadline = Clock::now() + kDrainAfterExit;
  while (out_fd_ >= 0 || err_fd_ >= 0) {
    const milliseconds left = Left(drain_deadline);
    if (left.count() == 0) break;
    Pump(left);
  }
  return status_;
}

std::string ProcessResult::LastOutLine() const {
  const std::size_t end = out.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const std::size_t newline = out.rfind('\n', end);
  const std::size_t begin = newline == std::string::npos ? 0 : newline + 1;
  return out.substr(begin, end + 1 - begin);
}

ProcessResult RunProcess(const std::vector<std::string>& argv, milliseconds timeout) {
  if (argv.empty()) throw std::invalid_argument("RunProcess: empty argv");
  ProcessResult result;
  std::optional<ChildProcess> child;
  try {
    child.emplace(argv, ChildProcess::StderrMode::kCapture);
  } catch (const std::system_error& e) {
    result.exit_code = 127;
    result.err = std::string(e.what()) + "\n";
    return result;
  }
  std::optional<int> status = child->Wait(timeout);
  if (!status) {
    result.timed_out = true;
    child->Signal(SIGKILL);
    status = child->Wait(kReapAfterKill);
  }
  result.out = child->out();
  result.err = child->err();
  if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  if (status && WIFSIGNALED(*status)) result.signal = WTERMSIG(*status);
  return result;
}

}  // namespace thriftpool::testing_support
