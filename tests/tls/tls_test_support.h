// Helpers for the TLS tests: certificates made at test time (tests/tls/make_test_certs), client
// options for them, and peers on 127.0.0.1 that misbehave in TLS-specific ways.
//
// Every wait here is bounded; each peer stops its thread in its destructor.
#ifndef THRIFTPOOL_TESTS_TLS_TLS_TEST_SUPPORT_H_
#define THRIFTPOOL_TESTS_TLS_TLS_TEST_SUPPORT_H_

#include <openssl/ssl.h>
#include <thriftpool/client_options.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace thriftpool::tls_test {

// The directory make_test_certs wrote into (made once per process, removed at exit). Throws
// std::runtime_error if openssl fails.
const std::string& CertDir();
// CertDir() + "/" + name.
std::string Cert(const std::string& name);

// Client options for 127.0.0.1:port trusting the test CA, with short timeouts.
ClientOptions TlsClient(int port);
// Server options presenting `name`.pem / `name`.key; with `client_ca`, mutual TLS.
example::UserServerOptions TlsServer(const std::string& name = "server",
                                     const std::string& client_ca = "");

// A one-connection-at-a-time TLS server written with OpenSSL alone, presenting `cert`: it
// records the SNI name each client sent, and after the handshake does what `after` says,
// then keeps the connection open (without reading) until the next client or destruction.
class TlsPeer {
 public:
  enum class After {
    kNothing,      // stay silent
    kSendData,     // send 5 bytes of application data nobody asked for
    kCloseNotify,  // send close_notify, keep the TCP connection open
  };
  TlsPeer(const std::string& cert, After after);
  ~TlsPeer();
  TlsPeer(const TlsPeer&) = delete;
  TlsPeer& operator=(const TlsPeer&) = delete;

  int port() const { return port_; }
  // Handshakes completed so far.
  int handshakes() const { return handshakes_.load(); }
  // The SNI name of the last completed handshake ("" when the client sent none).
  std::string last_sni() const;

 private:
  void Serve();

  SSL_CTX* ctx_ = nullptr;
  const After after_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  mutable std::mutex mu_;
  std::string last_sni_;  // guarded by mu_
  std::thread thread_;
};

// Accepts TCP connections and never sends or reads a byte: a peer that does not speak TLS at
// all, holding a TLS handshake. Counts the connections it accepted.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> connections_;  // the serving thread's, then the destructor's
  std::thread thread_;
};

}  // namespace thriftpool::tls_test

#endif  // THRIFTPOOL_TESTS_TLS_TLS_TEST_SUPPORT_H_
