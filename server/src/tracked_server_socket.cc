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

// What the tracker does to a connection from other threads, under its lock (the socket is still
// open then): shutdown() on a descriptor that another thread uses is safe, and a race detector
// agrees.
class TrackedSocket {
 public:
  // The peer reads end-of-file (FIN) at once.
  virtual void ShutDown() = 0;
  // SHUT_RD sends nothing, but wakes the serving thread's read with end-of-file, which makes it
  // close the connection, and so abort it.
  virtual void Kill() = 0;

 protected:
  ~TrackedSocket() = default;
};

namespace {

// An accepted socket (a TSocket, or a TlsSocket), registered with its tracker while open. Only
// the thread serving the connection reads, writes and closes it.
template <class Base>
class Tracked final : public Base, public TrackedSocket {
 public:
  // `args`: Base's constructor arguments, `fd` among them.
  template <class... Args>
  Tracked(std::shared_ptr<ConnectionTracker> tracker, THRIFT_SOCKET fd, Args&&... args)
      : Base(std::forward<Args>(args)...), fd_(fd), tracker_(std::move(tracker)) {
    tracker_->Add(this);
  }
  // Base's destructor closes too, but a base destructor cannot call this override.
  ~Tracked() override { close(); }

  void ShutDown() override { shutdown(fd_, SHUT_RDWR); }
  void Kill() override {
    killed_ = true;
    shutdown(fd_, SHUT_RD);
  }

  // A killed connection must not answer: the thread is busy in a call when Kill comes.
  uint32_t write_partial(const uint8_t* buf, uint32_t len) override {
    if (killed_) throw TTransportException(TTransportException::NOT_OPEN, "connection killed");
    return Base::write_partial(buf, len);
  }

  void close() override {
    if (open_) {
      open_ = false;
      tracker_->Remove(this);
      if (killed_) Abort();
    }
    Base::close();
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

}  // namespace

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
                                         std::shared_ptr<ConnectionTracker> tracker,
                                         std::shared_ptr<TlsContext> tls)
    : TServerSocket(host, port), tracker_(std::move(tracker)), tls_(std::move(tls)) {
  setListenCallback([](THRIFT_SOCKET fd) {
    const int off = 0;
    if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &off, sizeof(off)) != 0) {
      PLOG(WARNING) << "UserServer: cannot turn TCP_DEFER_ACCEPT off";
    }
  });
}

std::shared_ptr<TSocket> TrackedServerSocket::createSocket(THRIFT_SOCKET fd) {
  if (tls_) {
    return std::make_shared<Tracked<thriftpool::internal::TlsSocket>>(tracker_, fd, tls_, fd,
                                                                      pChildInterruptSockReader_);
  }
  return std::make_shared<Tracked<TSocket>>(tracker_, fd, fd, pChildInterruptSockReader_);
}

}  // namespace thriftpool::example::internal
