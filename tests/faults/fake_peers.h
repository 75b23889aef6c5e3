// Misbehaving peers on 127.0.0.1, written in the test: a listener that never completes a
// connect, and a server that answers with bytes of the test's choosing (a relay that lags or
// stalls a real server is support/relay.h). Each runs its own threads, bounded by polls of at
// most 20 ms, and stops them in its destructor.
#ifndef THRIFTPOOL_TESTS_FAULTS_FAKE_PEERS_H_
#define THRIFTPOOL_TESTS_FAULTS_FAKE_PEERS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
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
  // The number of replies written, once it reaches `count` or `limit` has passed. The client may
  // read a reply before the peer's thread counts it, so a test asks with a bound instead of
  // reading a counter.
  int RepliesSentOnceAtLeast(int count, std::chrono::milliseconds limit);

 private:
  void Serve();

  const std::string reply_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex replies_mutex_;
  std::condition_variable replies_counted_;
  int replies_sent_ = 0;          // guarded by replies_mutex_
  std::vector<int> connections_;  // touched by the serving thread only, then by the destructor
  std::thread thread_;
};

}  // namespace thriftpool::faults

#endif  // THRIFTPOOL_TESTS_FAULTS_FAKE_PEERS_H_
