#include "fake_peers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace thriftpool::faults {
namespace {

constexpr int kPollSliceMs = 20;

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + strerror(errno));
}

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// A listening socket on 127.0.0.1 and a free port; returns the descriptor and sets *port.
int ListenOnLoopback(int backlog, int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, backlog) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    Fail("listen on 127.0.0.1");
  }
  *port = ntohs(address.sin_port);
  return fd;
}

// Waits up to kPollSliceMs for `fd` to become readable; false on timeout.
bool Readable(int fd) {
  pollfd events{fd, POLLIN, 0};
  return poll(&events, 1, kPollSliceMs) == 1;
}

bool SendAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

}  // namespace

BlackHoleListener::BlackHoleListener() {
  listener_ = ListenOnLoopback(1, &port_);
  const sockaddr_in address = Loopback(port_);
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
    if (!Readable(listener_)) continue;
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.push_back(fd);
    // Answer only once a request came, as a server would; give up on a silent client.
    for (int slice = 0; slice < 100 && !stop_.load(); ++slice) {
      if (!Readable(fd)) continue;
      char request[4096];
      if (recv(fd, request, sizeof(request), 0) > 0 && SendAll(fd, reply_.data(), reply_.size())) {
        replies_sent_.fetch_add(1);
      }
      break;
    }
  }
}

LaggyProxy::LaggyProxy(int upstream_port) : upstream_port_(upstream_port) {
  listener_ = ListenOnLoopback(16, &port_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

LaggyProxy::~LaggyProxy() {
  stop_.store(true);
  acceptor_.join();
  // No new pump starts once the acceptor is gone.
  for (std::thread& pump : pumps_) pump.join();
  for (const int fd : sockets_) close(fd);
  close(listener_);
}

void LaggyProxy::AcceptLoop() {
  while (!stop_.load()) {
    if (!Readable(listener_)) continue;
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in upstream = Loopback(upstream_port_);
    if (server < 0 ||
        connect(server, reinterpret_cast<const sockaddr*>(&upstream), sizeof(upstream)) != 0) {
      close(client);
      if (server >= 0) close(server);
      continue;
    }
    std::lock_guard lock(mu_);
    sockets_.push_back(client);
    sockets_.push_back(server);
    pumps_.emplace_back([this, client, server] { Pump(client, server, false); });
    pumps_.emplace_back([this, client, server] { Pump(server, client, true); });
  }
}

void LaggyProxy::Pump(int from, int to, bool lagged) {
  char chunk[16384];
  while (!stop_.load()) {
    if (!Readable(from)) continue;
    const ssize_t got = recv(from, chunk, sizeof(chunk), 0);
    if (got <= 0) break;
    // The lag is read when the chunk arrives, so a reply caught by it stays late even if the
    // lag is lifted meanwhile; sleeping in slices keeps the destructor prompt.
    const long long lag_ms = lagged ? lag_ms_.load() : 0;
    for (long long slept = 0; slept < lag_ms && !stop_.load(); slept += kPollSliceMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollSliceMs));
    }
    if (!SendAll(to, chunk, static_cast<std::size_t>(got))) break;
  }
  // Passes the end on, so that each side sees the other leave.
  shutdown(to, SHUT_WR);
}

}  // namespace thriftpool::faults
