// Child processes for tests: a program started with its stdout (and optionally its stderr) piped
// to the test, read with bounded waits, and a one-shot RunProcess that runs a program to
// completion under a deadline.
//
// Every wait here is bounded, and a ChildProcess kills and reaps its child on destruction, so a
// failing assertion never leaves a stray, stopped or zombie process behind.
//
// Example:
//
//   ChildProcess server({"/path/to/server", "--port=0"});
//   std::optional<std::string> line = server.ReadLine(std::chrono::seconds(10));
//   ASSERT_TRUE(line.has_value()) << "stderr: " << server.err();
//   server.Signal(SIGTERM);
//   std::optional<int> status = server.Wait(std::chrono::seconds(10));
//   ASSERT_TRUE(status.has_value() && WIFEXITED(*status));
//
//   ProcessResult run = RunProcess({"/bin/sh", "-c", "echo hi"}, std::chrono::seconds(10));
//   EXPECT_EQ(run.exit_code, 0);
//   EXPECT_EQ(run.out, "hi\n");
#ifndef THRIFTPOOL_TESTS_SUPPORT_CHILD_PROCESS_H_
#define THRIFTPOOL_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace thriftpool::testing_support {

// ChildProcess
//
// One running program. How it starts:
//
//   * argv[0] is the program: a path, or (without a '/') a name looked up on PATH; argv is its
//     whole argument vector, and it inherits this process's environment.
//   * stdin is /dev/null; stdout is a pipe read by ReadLine() and Wait(); stderr is a second
//     pipe (StderrMode::kCapture) or this process's own stderr (StderrMode::kInherit, so that a
//     server's log shows in the test's output).
//   * No other descriptor of this process leaks into the child, not even one opened without
//     O_CLOEXEC (a child holding a copy of a test's socket would keep that connection open).
//   * The signal mask is empty and SIGPIPE, SIGTERM and SIGINT have their default actions, even
//     if the test blocks or ignores them.
//
// The child is reaped with waitpid(pid): code that reaps every child (waitpid(-1, ...), SIGCHLD
// set to SIG_IGN) must not run alongside.
//
// Thread-safety: not thread-safe; use an instance from one thread at a time. Distinct instances
// are independent.
class ChildProcess {
 public:
  enum class StderrMode {
    kCapture,  // a pipe: err() holds what the child wrote
    kInherit,  // this process's stderr; err() stays empty
  };

  // Starts the program. Throws std::invalid_argument if argv is empty and std::system_error if
  // the pipes cannot be made or the program cannot be started (not found, not executable).
  explicit ChildProcess(const std::vector<std::string>& argv,
                        StderrMode stderr_mode = StderrMode::kCapture);

  // If the child has not been reaped by Wait(): continues it (if stopped), kills it with SIGKILL
  // and reaps it, waiting 10 s at most. Closes the pipes.
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The child's process id. Still set once it has been reaped (then it may name another
  // process: do not signal it directly).
  pid_t pid() const { return pid_; }

  // Returns the next complete line of stdout without its '\n', reading (stdout and stderr) for
  // up to `timeout`. Returns std::nullopt if no complete line arrives by then, or if stdout
  // reaches end-of-file first (a last line without '\n' is never returned; it stays in out()).
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);

  // Sends `signal_number` to the child; does nothing once Wait() has reaped it (its pid may be
  // reused by then). Errors of kill(2) are ignored.
  void Signal(int signal_number);

  // Waits up to `timeout` for the child to end, reading its output meanwhile (so a child that
  // writes a lot cannot block on a full pipe). Returns its wait status (decode it with
  // WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG from <sys/wait.h>), or std::nullopt if it
  // still runs at the deadline. Once the child is reaped, reads what remains in the pipes
  // (for 1 s at most, in case a grandchild still holds them open), and later calls return the
  // same status at once. Throws std::system_error if waitpid fails (the child was reaped
  // elsewhere).
  std::optional<int> Wait(std::chrono::milliseconds timeout);

  // True once Wait() has returned a status.
  bool exited() const { return status_.has_value(); }

  // All of stdout / stderr read so far, including the lines ReadLine() returned; complete once
  // Wait() has returned a status. err() is empty in StderrMode::kInherit.
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Waits up to `timeout` for output on the open pipes and appends what is there to out_ and
  // err_; closes a pipe at its end-of-file.
  void Pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;  // -1 once closed
  int err_fd_ = -1;  // -1 once closed, or never opened (kInherit)
  std::string out_;
  std::string err_;
  std::size_t out_consumed_ = 0;  // bytes of out_ that ReadLine() has returned
  std::optional<int> status_;     // the wait status, once reaped
};

// How a program run by RunProcess ended, and what it wrote.
struct ProcessResult {
  int exit_code = -1;      // its exit code; -1 if a signal ended it
  int signal = 0;          // the signal that ended it, or 0
  bool timed_out = false;  // it still ran at the deadline and was killed with SIGKILL
  std::string out;         // all it wrote to stdout
  std::string err;         // all it wrote to stderr

  // The last non-empty line of out, without its '\n'; "" if there is none.
  std::string LastOutLine() const;
};

// Runs argv (started as by ChildProcess, with stderr captured) to completion, reading its
// stdout and stderr. If it still runs after `timeout`, kills it with SIGKILL (timed_out is then
// true, signal SIGKILL). If the program cannot be started, returns exit_code 127 (as a shell
// would) with the reason in err, rather than throwing. Throws std::invalid_argument if argv is
// empty, and std::system_error if waitpid fails (see ChildProcess::Wait).
//
// Thread-safe: concurrent calls run independent children.
ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_CHILD_PROCESS_H_
