// TrackedServerSocket: a Thrift server socket that keeps track of the connections it accepted,
// so that other threads can count them and cut them off.
#ifndef THRIFTPOOL_SERVER_SRC_TRACKED_SERVER_SOCKET_H_
#define THRIFTPOOL_SERVER_SRC_TRACKED_SERVER_SOCKET_H_

#include <thrift/transport/TServerSocket.h>
#include <thrift/transport/TSocket.h>
#include <thriftpool/tls_socket.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

namespace thriftpool::example::internal {

using thriftpool::internal::TlsContext;

class TrackedSocket;

// The accepted connections that are still open. A socket leaves the set before it closes its
// descriptor, so nothing here ever touches a descriptor that was closed and perhaps reused.
// Thread-safe.
class ConnectionTracker {
 public:
  enum class Ending {
    // shutdown(): the peer reads end-of-file (FIN) at once.
    kClose,
    // The serving thread aborts the connection (RST, and no FIN before it) as soon as it next
    // reads or writes; an idle connection is woken for that at once. (A thread blocked in a
    // send to a client that reads nothing is not: it aborts once the send returns.)
    kReset,
  };

  void Add(TrackedSocket* socket);
  void Remove(TrackedSocket* socket);
  std::size_t size() const;
  // Ends every tracked connection. Descriptors stay with the threads that serve them: those
  // wake up, fail and close them as usual.
  void EndAll(Ending how);

 private:
  mutable std::mutex mu_;
  std::unordered_set<TrackedSocket*> sockets_;  // guarded by mu_
};

// A TServerSocket whose accepted sockets register with a ConnectionTracker for their lifetime.
// Connections are accepted as soon as the handshake completes (Thrift would wait for the first
// request with TCP_DEFER_ACCEPT), so that idle connections are counted, time out and can be
// killed like any other. Children are always interruptible, so that stopping never hangs.
// With a TLS context, children speak TLS (the handshake runs on their first read).
class TrackedServerSocket : public apache::thrift::transport::TServerSocket {
 public:
  TrackedServerSocket(const std::string& host, int port, std::shared_ptr<ConnectionTracker> tracker,
                      std::shared_ptr<TlsContext> tls = nullptr);

 protected:
  std::shared_ptr<apache::thrift::transport::TSocket> createSocket(THRIFT_SOCKET fd) override;

 private:
  const std::shared_ptr<ConnectionTracker> tracker_;
  const std::shared_ptr<TlsContext> tls_;
};

}  // namespace thriftpool::example::internal

#endif  // THRIFTPOOL_SERVER_SRC_TRACKED_SERVER_SOCKET_H_
