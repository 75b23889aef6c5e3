// ThriftConnection: one socket and the transport and protocol stack on top of it.
#ifndef THRIFTPOOL_THRIFT_CONNECTION_H_
#define THRIFTPOOL_THRIFT_CONNECTION_H_

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TProtocol.h>
#include <thrift/transport/TTransport.h>
#include <thriftpool/client_options.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace thriftpool {

namespace internal {
class CountingSocket;
class TlsSocket;
}  // namespace internal

// What the connections of one pool detect, counted together; the pool reports it in its stats.
struct ConnectionCounters {
  // Replies whose sequence id or method name did not match the request (ClientOptions::
  // check_sequence_ids).
  std::atomic<std::uint64_t> sequence_mismatches{0};
};

// An open connection to one server, built from ClientOptions. Not thread-safe: one user at a time
// (the pool guarantees that).
class ThriftConnection {
 public:
  // Connects now (with ClientOptions::tls, also completes the TLS handshake). Throws
  // apache::thrift::transport::TTransportException (NOT_OPEN when refused or when the handshake
  // fails, TIMED_OUT when connect and handshake take over connect_timeout) or
  // std::invalid_argument for bad options. `counters`, when
  // given, receives what this connection detects.
  explicit ThriftConnection(const ClientOptions& options,
                            std::shared_ptr<ConnectionCounters> counters = nullptr);
  ~ThriftConnection();
  ThriftConnection(const ThriftConnection&) = delete;
  ThriftConnection& operator=(const ThriftConnection&) = delete;

  // The protocol a generated client talks through: with ClientOptions::check_sequence_ids, a
  // decorator that numbers requests and throws TProtocolException(INVALID_DATA) on a reply whose
  // id or method name does not match (the connection must then be discarded).
  const std::shared_ptr<apache::thrift::protocol::TProtocol>& protocol() const { return protocol_; }

  // Non-blocking health check of an idle connection (one poll(), plus a recv(MSG_PEEK) only if
  // something arrived): false when the peer closed or reset it, or sent bytes nobody asked for
  // (an answer that came too late). Over TLS also false on pending TLS records or a
  // close_notify (session tickets do not count). Never blocks.
  bool Probe() const;
  // Bytes handed to the kernel so far (over TLS: plaintext bytes in complete records); unchanged
  // across a failed call means nothing was sent.
  std::uint64_t bytes_sent() const;
  // Closes the socket; idempotent, never throws.
  void Close() noexcept;

 private:
  std::shared_ptr<apache::thrift::TConfiguration> config_;
  // Exactly one of the two is set, as ClientOptions::tls.enabled says.
  std::shared_ptr<internal::CountingSocket> socket_;
  std::shared_ptr<internal::TlsSocket> tls_socket_;
  std::shared_ptr<apache::thrift::transport::TTransport> transport_;
  std::shared_ptr<apache::thrift::protocol::TProtocol> protocol_;
};

// Routes Thrift's own diagnostics (apache::thrift::GlobalOutput) to glog WARNINGs instead of raw
// stderr, rate-limited process-wide (10 lines, then one per 6 s noting how many were dropped):
// Thrift logs every failed connect, which under failure would be a line per call.
// Idempotent and thread-safe; ThriftClientPool and ServicePool call it.
void RouteThriftLogsToGlog();

}  // namespace thriftpool

#endif  // THRIFTPOOL_THRIFT_CONNECTION_H_
