// main() of the fault tests: glog to stderr, so that no log file descriptor appears in the middle
// of a test that counts descriptors, and errors only, since every injected fault makes Thrift
// log a warning (--minloglevel=0 brings them back); SIGPIPE ignored, as in any process that talks
// to peers which may vanish.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);  // takes its own flags out first
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_ERROR;
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  signal(SIGPIPE, SIG_IGN);
  // glog calls mktime for every message, and with TZ unset glibc's tzset frees and re-allocates
  // its copy of the zone name each time, under a lock of its own that ThreadSanitizer cannot see:
  // a false race whenever two threads log. With TZ set (to the same zone as the default),
  // tzset finds the name unchanged and touches nothing after this first call.
  setenv("TZ", ":/etc/localtime", /*overwrite=*/0);
  tzset();
  return RUN_ALL_TESTS();
}
