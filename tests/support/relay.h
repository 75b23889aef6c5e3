// Relay: a TCP relay on 127.0.0.1 in front of a server, which misbehaves as the path between a
// client and its server does: it lags the server's answers (a congested link), or stops passing
// bytes while both connections stay open (a middlebox that lost the flow, a peer that hangs), so
// that neither side sees an end or a reset, and TCP keep-alive finds nothing wrong either.
#ifndef THRIFTPOOL_TESTS_SUPPORT_RELAY_H_
#define THRIFTPOOL_TESTS_SUPPORT_RELAY_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace thriftpool::testing_support {

// Relays 127.0.0.1:port() to 127.0.0.1:upstream_port, two threads per connection, each bounded
// by polls of kPollSliceMs and stopped by the destructor. The member functions may be called
// from any thread.
class Relay {
 public:
  // Throws std::runtime_error if it cannot listen.
  explicit Relay(int upstream_port);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  int port() const { return port_; }
  // Connections relayed so far.
  int connections() const;
  // While set, every chunk from the server waits this long before it is passed on (requests are
  // never delayed). The lag is read when a chunk arrives, so a chunk caught by it stays late even
  // if the lag is lifted meanwhile.
  void SetLag(std::chrono::milliseconds lag) { lag_ms_.store(lag.count()); }
  // The connections open now pass no more bytes, either way, until Resume; they stay open, and
  // connections made later are relayed.
  void StallOpenConnections();
  // Every connection, open now or made until Resume, passes no bytes until Resume.
  void StallAll();
  // Ends the stalls; the bytes held back pass on.
  void Resume();

 private:
  struct Link {
    int client;
    int server;
    std::atomic<bool> stalled;
  };
  void AcceptLoop();
  // Copies bytes from one side of `link` to the other until either side ends.
  void Pump(Link& link, bool server_to_client);

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long long> lag_ms_{0};
  mutable std::mutex mu_;
  bool stall_new_ = false;                    // guarded by mu_
  std::vector<std::unique_ptr<Link>> links_;  // guarded by mu_
  std::vector<std::thread> pumps_;            // guarded by mu_
  std::thread acceptor_;
};

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_RELAY_H_
