// ChildProcess: runs a program with its output captured, for tests of binaries and scripts.
#ifndef THRIFTPOOL_TESTS_SERVER_CHILD_PROCESS_H_
#define THRIFTPOOL_TESTS_SERVER_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace thriftpool::example {

// One child process, its stdout and stderr read through pipes. Every wait is bounded. Not
// thread-safe.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv. Throws std::system_error if it cannot.
  explicit ChildProcess(const std::vector<std::string>& argv);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of stdout without its '\n'; nullopt if none is complete by the timeout or the
  // child closed stdout first.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  void Signal(int signal_number);
  // Waits for the child to end, reading its output meanwhile; returns its wait status (see
  // waitpid), or nullopt if it is still running after the timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Output read so far (all of it once Wait has returned a status).
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Reads what is available on the pipes, waiting up to timeout for something to arrive.
  void Pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::size_t out_consumed_ = 0;  // bytes of out_ that ReadLine returned
};

}  // namespace thriftpool::example

#endif  // THRIFTPOOL_TESTS_SERVER_CHILD_PROCESS_H_
