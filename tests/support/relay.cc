#include "support/relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include "support/loopback_socket.h"

namespace thriftpool::testing_support {

Relay::Relay(int upstream_port) : upstream_port_(upstream_port) {
  listener_ = ListenOnLoopback(16, &port_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

Relay::~Relay() {
  stop_.store(true);
  acceptor_.join();
  // No new pump starts once the acceptor is gone.
  for (std::thread& pump : pumps_) pump.join();
  for (const auto& link : links_) {
    close(link->client);
    close(link->server);
  }
  close(listener_);
}

int Relay::connections() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(links_.size());
}

void Relay::StallOpenConnections() {
  std::lock_guard lock(mu_);
  for (const auto& link : links_) link->stalled.store(true);
}

void Relay::StallAll() {
  std::lock_guard lock(mu_);
  stall_new_ = true;
  for (const auto& link : links_) link->stalled.store(true);
}

void Relay::Resume() {
  std::lock_guard lock(mu_);
  stall_new_ = false;
  for (const auto& link : links_) link->stalled.store(false);
}

void Relay::AcceptLoop() {
  while (!stop_.load()) {
    if (!ReadableSoon(listener_)) continue;
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in upstream = LoopbackAddress(upstream_port_);
    if (server < 0 ||
        connect(server, reinterpret_cast<const sockaddr*>(&upstream), sizeof(upstream)) != 0) {
      close(client);
      if (server >= 0) close(server);
      continue;
    }
    std::lock_guard lock(mu_);
    Link& link = *links_.emplace_back(new Link{client, server, {stall_new_}});
    pumps_.emplace_back([this, &link] { Pump(link, false); });
    pumps_.emplace_back([this, &link] { Pump(link, true); });
  }
}

void Relay::Pump(Link& link, bool server_to_client) {
  const int from = server_to_client ? link.server : link.client;
  const int to = server_to_client ? link.client : link.server;
  char chunk[16384];
  while (!stop_.load()) {
    // A stalled link leaves the bytes in the kernel, unread, and the sockets open.
    if (link.stalled.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollSliceMs));
      continue;
    }
    if (!ReadableSoon(from)) continue;
    // Looked at again after the poll, so that bytes sent once a stall began never pass.
    if (link.stalled.load()) continue;
    const ssize_t got = recv(from, chunk, sizeof(chunk), 0);
    if (got <= 0) break;
    const long long lag_ms = server_to_client ? lag_ms_.load() : 0;
    // Sleeping in slices keeps the destructor prompt.
    for (long long slept = 0; slept < lag_ms && !stop_.load(); slept += kPollSliceMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollSliceMs));
    }
    if (!SendAll(to, chunk, static_cast<std::size_t>(got))) break;
  }
  // Passes the end on, so that each side sees the other leave.
  shutdown(to, SHUT_WR);
}

}  // namespace thriftpool::testing_support
