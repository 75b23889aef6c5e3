// StopSignal: wakes every wait on a connection at once, so that a background thread blocked in a
// request or a watch stops promptly. Not part of the public API.
#ifndef THRIFTPOOL_DISCOVERY_SRC_STOP_SIGNAL_H_
#define THRIFTPOOL_DISCOVERY_SRC_STOP_SIGNAL_H_

#include <chrono>

namespace thriftpool::discovery::internal {

// Thrown by a wait that the StopSignal ended. Deliberately not a std::exception, so that no
// handler for errors swallows it.
struct Stopped {};

// An eventfd that becomes readable, for good, once triggered. Thread-safe.
class StopSignal {
 public:
  // Throws std::system_error if no eventfd can be made.
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void Trigger();
  bool triggered() const;
  // Waits `duration`; throws Stopped at once if triggered before or meanwhile.
  void Sleep(std::chrono::milliseconds duration) const;
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace thriftpool::discovery::internal

#endif  // THRIFTPOOL_DISCOVERY_SRC_STOP_SIGNAL_H_
