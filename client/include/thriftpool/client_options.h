// ClientOptions: how ThriftClientPool connects to a server and speaks to it.
#ifndef THRIFTPOOL_CLIENT_OPTIONS_H_
#define THRIFTPOOL_CLIENT_OPTIONS_H_

#include <thriftpool/tls_options.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace thriftpool {

enum class TransportKind { kBuffered, kFramed };
enum class ProtocolKind { kBinary, kCompact };

// "buffered" / "framed" and "binary" / "compact". Parse* throw std::invalid_argument naming the
// bad value and the accepted ones.
const char* ToString(TransportKind kind);
const char* ToString(ProtocolKind kind);
TransportKind ParseTransportKind(const std::string& text);
ProtocolKind ParseProtocolKind(const std::string& text);

// When a call that failed at the connection level is tried again (see ThriftClientPool::Call).
struct RetryOptions {
  // Further attempts after the first; the last one runs on a newly created connection.
  int max_retries = 2;
  // Retries allowed over the window, as a share of the calls made in it (Finagle's budget)...
  double budget_ratio = 0.2;
  // ...plus this many per second of the window, so that a quiet client can still retry.
  int budget_min_per_second = 10;
  std::chrono::seconds budget_window{10};
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  int port = 9090;
  // Finite by default. 0 means no limit (Thrift's own default, which blocks forever).
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds recv_timeout{5000};
  std::chrono::milliseconds send_timeout{5000};
  TransportKind transport = TransportKind::kBuffered;
  ProtocolKind protocol = ProtocolKind::kBinary;
  // SO_KEEPALIVE on each socket.
  bool tcp_keepalive = true;
  // Limits enforced on everything read, through one TConfiguration shared by the socket and
  // every transport and protocol on top of it. max_message_size also caps the length of any
  // string or container a peer announces, checked before anything is allocated for it.
  std::int32_t max_message_size = 100 * 1024 * 1024;
  std::int32_t max_frame_size = 16 * 1024 * 1024;
  // Each request carries its own sequence id and each reply's id and method name are checked
  // against it; a mismatch (a late or duplicated reply, a confused server) throws
  // TProtocolException and counts in ClientPoolStats::sequence_mismatches. The generated client
  // still sees the id it wrote. Off only to measure what the check costs.
  bool check_sequence_ids = true;
  // Empty: the server's processor is the service itself. Otherwise the name under which a
  // TMultiplexedProcessor serves it; requests then go through TMultiplexedProtocol.
  std::string multiplexed_service;
  // ThriftClientPool probes a connection's socket each time it lends it (ThriftConnection::Probe):
  // a connection the server closed is discarded before a call is wasted on it. With it off, such
  // a call fails at its first read (and is retried only if idempotent); a late reply is still
  // caught by the sequence-id check.
  bool take_out_probe = true;
  RetryOptions retry;
  // TLS (off by default); see tls_options.h.
  TlsOptions tls;
};

// Throws std::invalid_argument naming the field: empty host, port outside 1..65535, a negative
// timeout or one above INT_MAX ms, max sizes below 1 KiB, max_frame_size > max_message_size,
// max_retries outside 0..10, budget_ratio outside [0, 10], budget_min_per_second < 0, budget_window
// below 1 s, a multiplexed_service containing ':'. With tls.enabled: a file that cannot be read
// or parsed (tls.ca_file, tls.cert_file, tls.key_file), a certificate without its key or the
// reverse, a key that does not match the certificate, a server_name containing a NUL or a space.
void ValidateClientOptions(const ClientOptions& options);

}  // namespace thriftpool

#endif  // THRIFTPOOL_CLIENT_OPTIONS_H_
