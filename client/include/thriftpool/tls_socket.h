// TlsContext and TlsSocket: thriftpool's TLS layer over Thrift's TSSLSocket and OpenSSL, used by
// ThriftConnection (ClientOptions::tls) and by the sample server. Not needed to use the pool.
//
// What it adds to TSSLSocket (Thrift 0.17):
// - The handshake runs inside open() and ends, with the TCP connect, within the connect timeout;
//   TSSLSocket waits for a silent peer as long as the receive timeout (forever by default).
// - The certificate is checked against a configurable name with OpenSSL's own check (the
//   subjectAltName's DNS names or IP addresses only). Thrift's DefaultClientAccessManager
//   compares DNS names with the connected host, IP entries with the peer's address whatever the
//   name, and falls back to the subject's CN even when a subjectAltName exists.
// - SNI carries that name (TSSLSocket sends the connected host, an IP address included).
// - Writes never raise SIGPIPE (OpenSSL writes with write(2); this BIO uses MSG_NOSIGNAL), and
//   close() sends close_notify without waiting for the peer's (TSSLSocket's close may block for
//   the receive timeout).
// - bytes_sent() and Probe(), as ThriftConnection has them for plain sockets.
#ifndef THRIFTPOOL_TLS_SOCKET_H_
#define THRIFTPOOL_TLS_SOCKET_H_

#include <thrift/TConfiguration.h>
#include <thrift/transport/TSSLSocket.h>
#include <thriftpool/tls_options.h>

#include <cstdint>
#include <memory>
#include <string>

namespace thriftpool::internal {

// An OpenSSL context (SSL_CTX, through a TSSLSocketFactory): TLS 1.2 at least, trusted CAs,
// the certificate and key to present, whether the peer must present a valid certificate.
// Immutable once built; shared by any number of sockets in any threads.
class TlsContext {
 public:
  // The client context for `options`: one per distinct setting and file contents, kept in a
  // process-wide cache (the 16 most recently built), so that every connection of a pool, and of
  // pools that share the setting, uses one. A file changed on disk gives a new context for new
  // connections. Throws std::invalid_argument naming the field ("ClientOptions.tls.ca_file:
  // ...") when a file cannot be read or parsed, or the key does not match the certificate.
  static std::shared_ptr<TlsContext> ForClient(const TlsOptions& options);
  // A server context presenting cert_file/key_file; with a ca_file, clients must present a
  // certificate issued by it (mutual TLS). Throws std::invalid_argument naming
  // `field_prefix` + "cert_file" / "key_file" / "ca_file". Not cached.
  static std::shared_ptr<TlsContext> ForServer(const std::string& cert_file,
                                               const std::string& key_file,
                                               const std::string& ca_file,
                                               const std::string& field_prefix);
  // Contexts built so far in this process (for tests: one per setting, not one per connection).
  static std::uint64_t built();

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const std::shared_ptr<apache::thrift::transport::SSLContext>& ssl_context() const;
  bool verify_peer() const { return verify_peer_; }

 private:
  class Factory;
  TlsContext(std::unique_ptr<Factory> factory, bool verify_peer);
  static std::shared_ptr<TlsContext> Build(bool server, const std::string& ca_file,
                                           const std::string& cert_file,
                                           const std::string& key_file, bool verify_peer,
                                           const std::string& field_prefix);

  const std::unique_ptr<Factory> factory_;
  const bool verify_peer_;
};

// A TSSLSocket with the additions listed at the top of this file. Like TSocket, not thread-safe.
class TlsSocket : public apache::thrift::transport::TSSLSocket {
 public:
  // Client side: open() connects to host:port and completes the handshake. The server's
  // certificate must name `server_name` (a DNS name or an IP address) unless the context does
  // not verify peers.
  TlsSocket(std::shared_ptr<TlsContext> context, const std::string& host, int port,
            std::string server_name, std::shared_ptr<apache::thrift::TConfiguration> config);
  // Server side of an accepted connection; the handshake runs on the first read, bounded by
  // the receive timeout and interruptible like any TSocket read.
  TlsSocket(std::shared_ptr<TlsContext> context, THRIFT_SOCKET fd,
            std::shared_ptr<THRIFT_SOCKET> interrupt_listener);
  ~TlsSocket() override;

  // Throws TTransportException: NOT_OPEN when the connect is refused or the handshake fails
  // (the message says why: "certificate has expired", "hostname mismatch", "the peer closed the
  // connection during the handshake", ...), TIMED_OUT when connect and handshake together take
  // longer than the connect timeout. Leaves the socket closed on failure.
  void open() override;
  // Sends close_notify if it can at once, then closes the socket. Never blocks, never throws.
  void close() override;
  // In records of at most 16 KiB, each through write_partial.
  void write(const uint8_t* buf, uint32_t len) override;
  uint32_t write_partial(const uint8_t* buf, uint32_t len) override;

  // Plaintext bytes handed to the kernel in complete TLS records. A record cut short by a
  // failure is not counted: the peer cannot decrypt, so never sees, any of it.
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  // Non-blocking health check of an idle connection: false when decrypted or undecrypted bytes
  // are waiting (a late answer), the peer sent close_notify or an alert, closed or reset the
  // connection. Post-handshake messages (TLS 1.3 session tickets) are consumed and do not count.
  bool Probe();

 private:
  // Creates the SSL object on the connected descriptor (non-blocking, the no-SIGPIPE BIO).
  void AttachSsl();
  void Handshake(int timeout_ms);
  // The alert the peer sent, if one waits unread ("tlsv13 alert certificate required"); "".
  std::string PendingAlert();

  const std::shared_ptr<TlsContext> context_;
  const std::string server_name_;
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace thriftpool::internal

#endif  // THRIFTPOOL_TLS_SOCKET_H_
