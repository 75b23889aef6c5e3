// ChildProcess and RunProcess against small /bin/sh scripts. Every child here ends within a
// second or is killed; no test waits longer than a few seconds.
#include "support/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace thriftpool::testing_support {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr seconds kGenerous(10);  // for children that end at once: only a hang reaches it

std::vector<std::string> Shell(const std::string& script) { return {"/bin/sh", "-c", script}; }

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

TEST(RunProcessTest, CapturesStdoutStderrAndExitCode) {
  const ProcessResult run =
      RunProcess(Shell("echo one; echo two >&2; echo three; exit 3"), kGenerous);
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.signal, 0);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.out, "one\nthree\n");
  EXPECT_EQ(run.err, "two\n");
  EXPECT_EQ(run.LastOutLine(), "three");
}

TEST(RunProcessTest, ReportsTheSignalThatEndedIt) {
  const ProcessResult run = RunProcess(Shell("echo before; kill -TERM $$"), kGenerous);
  EXPECT_EQ(run.exit_code, -1);
  EXPECT_EQ(run.signal, SIGTERM);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.out, "before\n");
}

TEST(RunProcessTest, KillsAChildStillRunningAtTheTimeout) {
  const Clock::time_point start = Clock::now();
  const ProcessResult run = RunProcess(Shell("echo started; exec sleep 30"), milliseconds(200));
  const milliseconds elapsed = Since(start);
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.signal, SIGKILL);
  EXPECT_EQ(run.exit_code, -1);
  EXPECT_EQ(run.out, "started\n");
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_LT(elapsed, seconds(5));
}

TEST(RunProcessTest, DrainsBothPipesTogether) {
  // More than a pipe holds on each: a child blocked on one full pipe would never end.
  const ProcessResult run =
      RunProcess(Shell("head -c 300000 /dev/zero >&2; head -c 200000 /dev/zero"), kGenerous);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.err.size(), 300000u);
  EXPECT_EQ(run.out.size(), 200000u);
}

TEST(RunProcessTest, StdinIsDevNull) {
  const ProcessResult run = RunProcess({"/bin/cat"}, kGenerous);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, "");
}

TEST(RunProcessTest, LooksUpABareNameOnPath) {
  const ProcessResult run = RunProcess({"sh", "-c", "echo found"}, kGenerous);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "found\n");
}

TEST(RunProcessTest, AMissingProgramExitsWith127AndSaysWhy) {
  const ProcessResult run = RunProcess({"/nonexistent/program", "x"}, kGenerous);
  EXPECT_EQ(run.exit_code, 127);
  EXPECT_FALSE(run.timed_out);
  EXPECT_NE(run.err.find("/nonexistent/program"), std::string::npos) << run.err;
}

TEST(RunProcessTest, LeaksNoDescriptorIntoTheChild) {
  const int leaky = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaky, 0);
  const std::string fd = std::to_string(leaky);
  const ProcessResult run = RunProcess(
      Shell("if [ -e /proc/$$/fd/" + fd + " ]; then echo leaked; else echo closed; fi"), kGenerous);
  close(leaky);
  EXPECT_EQ(run.out, "closed\n") << "descriptor " << fd;
}

TEST(ProcessResultTest, LastOutLineSkipsTrailingEmptyLines) {
  ProcessResult run;
  EXPECT_EQ(run.LastOutLine(), "");
  run.out = "a\nb\n\n";
  EXPECT_EQ(run.LastOutLine(), "b");
  run.out = "only";
  EXPECT_EQ(run.LastOutLine(), "only");
}

TEST(ChildProcessTest, ReadLineReturnsLinesAndTimesOutBetweenThem) {
  ChildProcess child(Shell("echo first; sleep 0.3; echo second; exec sleep 30"));
  EXPECT_EQ(child.ReadLine(kGenerous), "first");
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(child.ReadLine(milliseconds(50)), std::nullopt) << "the second line comes later";
  EXPECT_GE(Since(start), milliseconds(50));
  EXPECT_EQ(child.ReadLine(kGenerous), "second");
  EXPECT_EQ(child.Wait(milliseconds(100)), std::nullopt) << "still sleeping";
  EXPECT_FALSE(child.exited());

  child.Signal(SIGTERM);
  const std::optional<int> status = child.Wait(kGenerous);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGTERM) << *status;
  EXPECT_TRUE(child.exited());
  EXPECT_EQ(child.out(), "first\nsecond\n") << "out() keeps the lines ReadLine returned";
}

TEST(ChildProcessTest, ReadLineReturnsNulloptAtEndOfFileWithoutWaiting) {
  ChildProcess child(Shell("printf 'a\\nunfinished'"));
  EXPECT_EQ(child.ReadLine(kGenerous), "a");
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(child.ReadLine(kGenerous), std::nullopt);
  EXPECT_LT(Since(start), seconds(5));
  EXPECT_EQ(child.out(), "a\nunfinished");
}

TEST(ChildProcessTest, WaitReturnsTheStatusWithAllOutputAndKeepsIt) {
  ChildProcess child(Shell("echo out; echo oops >&2; exit 2"));
  const std::optional<int> status = child.Wait(kGenerous);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_EQ(child.out(), "out\n");
  EXPECT_EQ(child.err(), "oops\n");
  child.Signal(SIGKILL);  // a no-op once reaped
  EXPECT_EQ(child.Wait(milliseconds(0)), status);
}

TEST(ChildProcessTest, InheritedStderrIsNotCaptured) {
  ChildProcess child(Shell("echo 'child_process_test: expected line on stderr' >&2; echo done"),
                     ChildProcess::StderrMode::kInherit);
  EXPECT_EQ(child.ReadLine(kGenerous), "done");
  const std::optional<int> status = child.Wait(kGenerous);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(child.err(), "");
}

TEST(ChildProcessTest, DestructorKillsAndReapsARunningOrStoppedChild) {
  for (const bool stopped : {false, true}) {
    SCOPED_TRACE(stopped ? "stopped" : "running");
    pid_t pid = -1;
    {
      ChildProcess child(Shell("echo up; exec sleep 30"));
      pid = child.pid();
      ASSERT_EQ(child.ReadLine(kGenerous), "up");
      if (stopped) child.Signal(SIGSTOP);
    }
    // Reaped: no longer a child of this process.
    errno = 0;
    EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }
}

TEST(ChildProcessTest, ConstructorThrowsForAMissingProgram) {
  EXPECT_THROW(ChildProcess({"/nonexistent/program"}), std::system_error);
  EXPECT_THROW(ChildProcess(std::vector<std::string>{}), std::invalid_argument);
}

}  // namespace
}  // namespace thriftpool::testing_support
