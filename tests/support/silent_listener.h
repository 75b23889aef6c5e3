// SilentListener: a loopback port with a listener on it that never accepts: the kernel completes
// TCP handshakes (up to its backlog) while nobody ever reads or answers. A server that is up but
// stalled, or simply a port that is taken.
#ifndef THRIFTPOOL_TESTS_SUPPORT_SILENT_LISTENER_H_
#define THRIFTPOOL_TESTS_SUPPORT_SILENT_LISTENER_H_

#include <string>

namespace thriftpool::testing_support {

class SilentListener {
 public:
  // Listens on 127.0.0.1 and a free port; throws std::runtime_error if it cannot.
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_SILENT_LISTENER_H_
