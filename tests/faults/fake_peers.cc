#include "fake_peers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "support/loopback_socket.h"

namespace thriftpool::faults {
namespace {

using testing_support::ListenOnLoopback;
using testing_support::ReadableSoon;
using testing_support::SendAll;

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + strerror(errno));
}

}  // namespace

BlackHoleListener::BlackHoleListener() {
  listener_ = ListenOnLoopback(1, &port_);
  const sockaddr_in address = testing_support::LoopbackAddress(port_);
  // Linux queues backlog + 1 completed connections; more are tried so that the queue is surely
  // full, and the first connect that does not complete proves it.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) Fail("socket");
    fillers_.push_back(fd);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) continue;
    if (errno != EINPROGRESS) Fail("connect to the black hole");
    pollfd events{fd, POLLOUT, 0};
    if (poll(&events, 1, 200) == 0) return;  // hangs: the queue is full
  }
  throw std::runtime_error("BlackHoleListener: 8 connects completed, the backlog never filled");
}

BlackHoleListener::~BlackHoleListener() {
  for (const int fd : fillers_) close(fd);
  close(listener_);
}

ScriptedPeer::ScriptedPeer(std::string reply) : reply_(std::move(reply)) {
  listener_ = ListenOnLoopback(16, &port_);
  thread_ = std::thread([this] { Serve(); });
}

ScriptedPeer::~ScriptedPeer() {
  stop_.store(true);
  thread_.join();
  for (const int fd : connections_) close(fd);
  close(listener_);
}

void ScriptedPeer::Serve() {
  while (!stop_.load()) {
    if (!ReadableSoon(listener_)) continue;
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.push_back(fd);
    // Answer only once a request came, as a server would; give up on a silent client.
    for (int slice = 0; slice < 100 && !stop_.load(); ++slice) {
      if (!ReadableSoon(fd)) continue;
      char request[4096];
      if (recv(fd, request, sizeof(request), 0) > 0 && SendAll(fd, reply_.data(), reply_.size())) {
        {
          const std::lock_guard<std::mutex> lock(replies_mutex_);
          ++replies_sent_;
        }
        replies_counted_.notify_all();
      }
      break;
    }
  }
}

int ScriptedPeer::RepliesSentOnceAtLeast(int count, std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(replies_mutex_);
  replies_counted_.wait_for(lock, limit, [&] { return replies_sent_ >= count; });
  return replies_sent_;
}

}  // namespace thriftpool::faults
