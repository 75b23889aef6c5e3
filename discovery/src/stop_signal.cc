#include "stop_signal.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <system_error>

namespace thriftpool::discovery::internal {

StopSignal::StopSignal() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

StopSignal::~StopSignal() { close(fd_); }

void StopSignal::Trigger() {
  const std::uint64_t one = 1;
  // Never read, so it stays readable; a full counter (impossible here) would still be readable.
  [[maybe_unused]] const ssize_t ignored = write(fd_, &one, sizeof one);
}

void StopSignal::Sleep(std::chrono::milliseconds duration) const {
  const auto until = std::chrono::steady_clock::now() + duration;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd event = {fd_, POLLIN, 0};
    if (poll(&event, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) > 0) {
      throw Stopped{};
    }
    if (left.count() <= 0) return;
  }
}

bool StopSignal::triggered() const {
  pollfd event = {fd_, POLLIN, 0};
  return poll(&event, 1, 0) == 1;
}

}  // namespace thriftpool::discovery::internal
