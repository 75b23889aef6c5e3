#include "tracked_server_socket.h"

#include <glog/logging.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <thrift/transport/TTransportException.h>

#include <atomic>
#include <utility>

namespace thriftpool::example::internal {

using apache::thrift::transport::TSocket;
using apache::thrift::transport::TTransportException;

// An accepted socket, registered with its tracker while open. Only the thread serving the
// connection reads, writes and closes it; other threads merely shut it down (shutdown() on a
// descriptor that another thread uses is safe, and a race detector agrees).
class TrackedSocket : public TSocket {
 public:
  TrackedSocket(THRIFT_SOCKET fd, std::shared_ptr<THRIFT_SOCKET> interrupt_listener,
                std::shared_ptr<ConnectionTracker> tracker)
      : TSocket(fd, std::move(interrupt_listener)), fd_(fd), tracker_(std::move(tracker)) {
    tracker_->Add(this);
  }
  // TSocket's destructor closes too, but a base destructor cannot call this override.
  ~TrackedSocket() override { close(); }

  // Any thread, under the tracker's lock (the socket is still open then).
  void ShutDown() { shutdown(fd_, SHUT_RDWR); }
  // Any thread, under the tracker's lock. SHUT_RD sends nothing, but wakes the serving thread's
  // read with end-of-file, which makes it close the connection, and so abort it.
  void Kill() {
    killed_ = true;
    shutdown(fd_, SHUT_RD);
  }

  // A killed connection must not answer: the thread is busy in a call when Kill comes.
  uint32_t write_partial(const uint8_t* buf, uint32_t len) override {
    if (killed_) throw TTransportException(TTransportException::NOT_OPEN, "connection killed");
    return TSocket::write_partial(buf, len);
  }

  void close() override {
    if (open_) {
      open_ = false;
      tracker_->Remove(this);
      if (killed_) Abort();
    }
    TSocket::close();
  }

 private:
  // connect(AF_UNSPEC) aborts a TCP connection in place: the kernel sends RST, where close()
  // would first send FIN (TSocket::close shuts the socket down before closing it).
  void Abort() {
    sockaddr unspecified{};
    unspecified.sa_family = AF_UNSPEC;
    if (connect(fd_, &unspecified, sizeof(unspecified)) != 0) {
      PLOG(WARNING) << "UserServer: cannot reset connection fd " << fd_;
    }
  }

  const THRIFT_SOCKET fd_;
  const std::shared_ptr<ConnectionTracker> tracker_;
  std::atomic<bool> killed_{false};
  bool open_ = true;  // only the serving thread closes
};

void ConnectionTracker::Add(TrackedSocket* socket) {
  std::lock_guard lock(mu_);
  sockets_.insert(socket);
}

void ConnectionTracker::Remove(TrackedSocket* socket) {
  std::lock_guard lock(mu_);
  sockets_.erase(socket);
}

std::size_t ConnectionTracker::size() const {
  std::lock_guard lock(mu_);
  return sockets_.size();
}

void ConnectionTracker::EndAll(Ending how) {
  std::lock_guard lock(mu_);
  for (TrackedSocket* const socket : sockets_) {
    if (how == Ending::kReset) {
      socket->Kill();
    } else {
      socket->ShutDown();
    }
  }
}

TrackedServerSocket::TrackedServerSocket(const std::string& host, int port,
                                         std::shared_ptr<ConnectionTracker> tracker)
    : TServerSocket(host, port), tracker_(std::move(tracker)) {
  setListenCallback([](THRIFT_SOCKET fd) {
    const int off = 0;
    if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &off, sizeof(off)) != 0) {
      PLOG(WARNING) << "UserServer: cannot turn TCP_DEFER_ACCEPT off";
    }
  });
}

std::shared_ptr<TSocket> TrackedServerSocket::createSocket(THRIFT_SOCKET fd) {
  return std::make_shared<TrackedSocket>(fd, pChildInterruptSockReader_, tracker_);
}

}  // namespace thriftpool::example::internal
