// Misbehaving peers on 127.0.0.1, written in the test: a listener that never completes a
// connect, a server that answers with bytes of the test's choosing, and a relay that holds back
// the server's answers. Each runs its own threads, bounded by polls of at most 20 ms, and stops
// them in its destructor.
#ifndef THRIFTPOOL_TESTS_FAULTS_FAKE_PEERS_H_
#define THRIFTPOOL_TESTS_FAULTS_FAKE_PEERS_H_

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace thriftpool::faults {

// A loopback listener with a full accept queue (listen(fd, 1), never accepting, the queue filled
// by the constructor's own connects): the kernel drops further SYNs, so connects to it hang until
// the client's connect timeout, without any packet leaving the host.
class BlackHoleListener {
 public:
  // Throws std::runtime_error if the queue cannot be filled.
  BlackHoleListener();
  ~BlackHoleListener();
  BlackHoleListener(const BlackHoleListener&) = delete;
  BlackHoleListener& operator=(const BlackHoleListener&) = delete;

  int port() const { return port_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;  // the connects that fill the queue, kept open
};

// A server that reads the first request of each connection, answers it with `reply`, and then
// keeps the connection open without another word, so that the client must judge the bytes
// themselves (no EOF comes to its rescue).
class ScriptedPeer {
 public:
  explicit ScriptedPeer(std::string reply);
  ~ScriptedPeer();
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;

  int port() const { return port_; }
  int replies_sent() const { return replies_sent_.load(); }

 private:
  void Serve();

  const std::string reply_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> replies_sent_{0};
  std::vector<int> connections_;  // touched by the serving thread only, then by the destructor
  std::thread thread_;
};

// A relay from 127.0.0.1:port() to 127.0.0.1:upstream_port. While a lag is set, every chunk from
// the server waits that long before it is passed on (requests are never delayed), as on a
// congested link: a reply can then arrive after the client gave up on it.
class LaggyProxy {
 public:
  explicit LaggyProxy(int upstream_port);
  ~LaggyProxy();
  LaggyProxy(const LaggyProxy&) = delete;
  LaggyProxy& operator=(const LaggyProxy&) = delete;

  int port() const { return port_; }
  void SetLag(std::chrono::milliseconds lag) { lag_ms_.store(lag.count()); }

 private:
  void AcceptLoop();
  // Copies bytes from `from` to `to` until either side ends; `lagged`: server-to-client.
  void Pump(int from, int to, bool lagged);

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long long> lag_ms_{0};
  std::mutex mu_;
  std::vector<int> sockets_;        // guarded by mu_
  std::vector<std::thread> pumps_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace thriftpool::faults

#endif  // THRIFTPOOL_TESTS_FAULTS_FAKE_PEERS_H_
