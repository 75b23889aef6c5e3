#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

extern char** environ;

namespace thriftpool::example {
namespace {

void ThrowIf(bool failed, int error, const char* what) {
  if (failed) throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  int out_pipe[2];
  int err_pipe[2];
  ThrowIf(pipe2(out_pipe, O_CLOEXEC) != 0, errno, "pipe2");
  ThrowIf(pipe2(err_pipe, O_CLOEXEC) != 0, errno, "pipe2");
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int error = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (error != 0) {
    close(out_fd_);
    close(err_fd_);
    throw std::system_error(error, std::generic_category(), "posix_spawn " + argv[0]);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (const int fd : {out_fd_, err_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void ChildProcess::Pump(std::chrono::milliseconds timeout) {
  // poll() skips negative descriptors: those pipes reached end-of-file and were closed.
  pollfd fds[] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (poll(fds, 2, static_cast<int>(timeout.count())) <= 0) return;
  int* const pipe_fds[] = {&out_fd_, &err_fd_};
  std::string* const sinks[] = {&out_, &err_};
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || fds[i].revents == 0) continue;
    char buffer[4096];
    const ssize_t got = read(fds[i].fd, buffer, sizeof(buffer));
    if (got > 0) {
      sinks[i]->append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      close(fds[i].fd);
      *pipe_fds[i] = -1;
    }
  }
}

std::optional<std::string> ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::size_t end = out_.find('\n', out_consumed_);
    if (end != std::string::npos) {
      std::string line = out_.substr(out_consumed_, end - out_consumed_);
      out_consumed_ = end + 1;
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (out_fd_ < 0 || left.count() <= 0) return std::nullopt;
    Pump(left);
  }
}

void ChildProcess::Signal(int signal_number) { kill(pid_, signal_number); }

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      // The child is gone and what it wrote waits in the pipes; bounded all the same, in case
      // a grandchild still holds a pipe open.
      const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while ((out_fd_ >= 0 || err_fd_ >= 0) && std::chrono::steady_clock::now() < drain_deadline) {
        Pump(std::chrono::milliseconds(100));
      }
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    Pump(std::chrono::milliseconds(10));
  }
}

}  // namespace thriftpool::example
