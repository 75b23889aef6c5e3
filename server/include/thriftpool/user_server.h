// UserServer: the sample UserService served over Thrift, with the fault controls that tests need.
#ifndef THRIFTPOOL_USER_SERVER_H_
#define THRIFTPOOL_USER_SERVER_H_

#include <thriftpool/client_options.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace thriftpool::example {

struct UserServerOptions {
  std::string host = "127.0.0.1";
  // 0: any free port (see UserServer::port()).
  int port = 0;
  TransportKind transport = TransportKind::kBuffered;
  ProtocolKind protocol = ProtocolKind::kBinary;
  // Users 1..users exist from the start: name "user-<id>", email "user-<id>@example.com".
  std::int64_t users = 100000;
  // The server closes (FIN) a connection that sends no request for this long; 0 = never.
  std::chrono::milliseconds idle_timeout{0};
  // Serve UserService and ServerInfo through one TMultiplexedProcessor, under the names
  // kUserServiceName and kServerInfoName; clients then set ClientOptions::multiplexed_service.
  // Unmultiplexed requests still reach UserService (its default processor), so that clients can
  // move over one at a time. Otherwise UserService alone, unmultiplexed.
  bool multiplex = false;
  // Each getUser waits this long before answering: a slow replica, for balancing tests.
  std::chrono::microseconds get_user_delay{0};
  // TLS (1.2 at least) with this PEM certificate chain and unencrypted key, when both are set.
  // With tls_ca_file too, every client must present a certificate issued by one of its CAs
  // (mutual TLS); a client without one fails its handshake or, in TLS 1.3, its first call.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
};

inline constexpr char kUserServiceName[] = "UserService";
inline constexpr char kServerInfoName[] = "ServerInfo";

// Throws std::invalid_argument naming the field: empty host, port outside 0..65535, negative
// users, idle_timeout negative or above INT_MAX ms, get_user_delay outside 0..60 s; a TLS file
// that cannot be read or parsed, tls_cert_file without tls_key_file or the reverse, tls_ca_file
// without them, a key that does not match the certificate.
void ValidateUserServerOptions(const UserServerOptions& options);

// Serves UserService with one thread per connection, so that no connection ever waits for
// another. Calls: getUser throws UserNotFound for an unknown id; createUser takes the next free id;
// sleepMs sleeps, and answers ms outside 0..60000 with a TApplicationException.
// Every member function is thread-safe.
class UserServer {
 public:
  // Throws std::invalid_argument (see ValidateUserServerOptions). Does not bind yet.
  explicit UserServer(UserServerOptions options);
  // Stop().
  ~UserServer();
  UserServer(const UserServer&) = delete;
  UserServer& operator=(const UserServer&) = delete;

  // Binds, listens and serves in background threads; returns once new connections are accepted.
  // After a Stop it starts again on the port it had, so that clients can come back, and with the
  // users created so far. No-op while running. Throws
  // apache::thrift::transport::TTransportException when it cannot bind.
  void Start();
  // Stops accepting, closes (FIN) every connection, cuts short every sleepMs and joins all
  // threads. Idempotent; returns promptly even with idle or unresponsive clients connected.
  void Stop();

  // The bound port: valid once Start has returned, 0 before.
  int port() const;
  const std::string& host() const;
  // Client connections open now (counted from the TCP handshake, not from their first request).
  std::size_t connection_count() const;
  // Resets (RST, with no FIN before it) every open connection, like a firewall dropping its
  // state: an idle connection at once, one busy in a call when that call would answer. A client
  // learns of it on its next call, or instead of the answer. New connections are served as usual.
  void KillConnections();
  // Calls dispatched so far (counted as each begins), over every Start.
  std::uint64_t calls() const;

 private:
  class Impl;
  const std::unique_ptr<Impl> impl_;
};

}  // namespace thriftpool::example

#endif  // THRIFTPOOL_USER_SERVER_H_
