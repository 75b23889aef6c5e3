// Relay in front of an echo server written here: bytes pass both ways, a lag holds the answers
// back, a stall silences connections without closing them (the ones open then, or all), and
// Resume lets the held bytes through. Every wait is bounded by a few hundred milliseconds.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback_socket.h"
#include "support/relay.h"

namespace thriftpool::testing_support {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Echoes whatever each connection sends, one thread for all connections.
class EchoServer {
 public:
  EchoServer() : listener_(ListenOnLoopback(16, &port_)), thread_([this] { Serve(); }) {}
  ~EchoServer() {
    stop_.store(true);
    thread_.join();
    for (const int fd : connections_) close(fd);
    close(listener_);
  }
  int port() const { return port_; }

 private:
  void Serve() {
    while (!stop_.load()) {
      std::vector<pollfd> polls{{listener_, POLLIN, 0}};
      for (const int fd : connections_) polls.push_back({fd, POLLIN, 0});
      if (poll(polls.data(), polls.size(), kPollSliceMs) <= 0) continue;
      if (polls[0].revents != 0) {
        const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) connections_.push_back(fd);
      }
      for (std::size_t i = 1; i < polls.size(); ++i) {
        if (polls[i].revents == 0) continue;
        char bytes[1024];
        const ssize_t got = recv(polls[i].fd, bytes, sizeof bytes, MSG_DONTWAIT);
        if (got > 0) SendAll(polls[i].fd, bytes, static_cast<std::size_t>(got));
      }
    }
  }

  int port_ = 0;
  const int listener_;
  std::atomic<bool> stop_{false};
  std::vector<int> connections_;  // the serving thread's, then the destructor's
  std::thread thread_;
};

// A client connection to the relay.
class Client {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const sockaddr_in address = LoopbackAddress(port);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "cannot connect to the relay";
    }
  }
  ~Client() { close(fd_); }
  void Send(const std::string& text) { ASSERT_TRUE(SendAll(fd_, text.data(), text.size())); }
  // What arrives within `wait` (stops early once `expected` bytes came); "" if nothing did.
  std::string Receive(std::size_t expected, milliseconds wait) {
    std::string received;
    const auto deadline = Clock::now() + wait;
    while (received.size() < expected && Clock::now() < deadline) {
      if (!ReadableSoon(fd_)) continue;
      char bytes[1024];
      const ssize_t got = recv(fd_, bytes, sizeof bytes, 0);
      EXPECT_GT(got, 0) << "the relay closed the connection";
      if (got <= 0) break;
      received.append(bytes, static_cast<std::size_t>(got));
    }
    return received;
  }

 private:
  const int fd_;
};

constexpr milliseconds kPrompt(2000);  // an answer that should come at once comes within this

class RelayTest : public ::testing::Test {
 protected:
  EchoServer server_;
  Relay relay_{server_.port()};
};

TEST_F(RelayTest, PassesBytesBothWays) {
  Client client(relay_.port());
  client.Send("hello");
  EXPECT_EQ(client.Receive(5, kPrompt), "hello");
  EXPECT_EQ(relay_.connections(), 1);
}

TEST_F(RelayTest, ALagHoldsTheServersAnswersBack) {
  relay_.SetLag(milliseconds(200));
  Client client(relay_.port());
  const auto start = Clock::now();
  client.Send("late");
  EXPECT_EQ(client.Receive(4, kPrompt), "late");
  EXPECT_GE(Clock::now() - start, milliseconds(200));
}

TEST_F(RelayTest, StallingOpenConnectionsSilencesThemOnlyUntilResume) {
  Client stalled(relay_.port());
  stalled.Send("a");
  ASSERT_EQ(stalled.Receive(1, kPrompt), "a");

  relay_.StallOpenConnections();
  stalled.Send("b");
  EXPECT_EQ(stalled.Receive(1, milliseconds(300)), "") << "no byte passes, no end either";
  Client fresh(relay_.port());
  fresh.Send("c");
  EXPECT_EQ(fresh.Receive(1, kPrompt), "c") << "a connection made after the stall is relayed";

  relay_.Resume();
  EXPECT_EQ(stalled.Receive(1, kPrompt), "b") << "the held bytes pass on";
}

TEST_F(RelayTest, StallingAllSilencesNewConnectionsTooUntilResume) {
  relay_.StallAll();
  Client client(relay_.port());
  client.Send("x");
  EXPECT_EQ(client.Receive(1, milliseconds(300)), "");
  EXPECT_EQ(relay_.connections(), 1) << "accepted, as a hung server's kernel would";
  relay_.Resume();
  EXPECT_EQ(client.Receive(1, kPrompt), "x");
}

}  // namespace
}  // namespace thriftpool::testing_support
