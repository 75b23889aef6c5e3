// ChildProcess: runs a program with its stdout and stderr captured, never for longer than told.
#ifndef THRIFTPOOL_TESTS_CLIENT_TOOL_CHILD_PROCESS_H_
#define THRIFTPOOL_TESTS_CLIENT_TOOL_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace thriftpool::tooltest {

// How a finished program ended and what it wrote.
struct ProcessResult {
  int exit_code = -1;      // -1 when killed by a signal
  int signal = 0;          // the signal that ended it, or 0
  bool timed_out = false;  // it had to be killed at the deadline
  std::string out;
  std::string err;

  // The last non-empty line of out, "" if none.
  std::string LastOutLine() const;
};

// Runs argv (argv[0] is a path) to completion; SIGKILLs it at `timeout`.
ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// A program running in the background with its stdout piped to us (stderr is inherited, so
// that its log shows in the test's output). The destructor kills it if it still runs.
class ChildProcess {
 public:
  // Starts argv; throws std::runtime_error when it cannot.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of its stdout without the newline; throws std::runtime_error on EOF or when
  // none arrives within `timeout`.
  std::string ReadLine(std::chrono::milliseconds timeout);
  // Sends `signal` and waits up to `timeout` for the exit (SIGKILL after it). Returns how it
  // ended, as RunProcess does (out and err stay empty).
  ProcessResult Stop(int signal, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffered_;
};

}  // namespace thriftpool::tooltest

#endif  // THRIFTPOOL_TESTS_CLIENT_TOOL_CHILD_PROCESS_H_
