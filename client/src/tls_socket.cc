#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/tls_socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace thriftpool::internal {
namespace {

using apache::thrift::transport::SSLContext;
using apache::thrift::transport::TSSLSocket;
using apache::thrift::transport::TTransportException;
using Clock = std::chrono::steady_clock;

// The largest TLS record's plaintext: a write of at most this much is one record, which either
// reaches the kernel whole or not at all as far as the peer's application can tell.
constexpr std::uint32_t kMaxRecord = 16384;
constexpr std::size_t kMaxCachedContexts = 16;

std::atomic<std::uint64_t> contexts_built{0};

[[noreturn]] void Fail(const std::string& field, const std::string& why) {
  throw std::invalid_argument(field + ": " + why);
}

void RequireReadable(const std::string& path, const std::string& field) {
  if (path.empty()) return;
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) Fail(field, "cannot read '" + path + "': " + std::strerror(errno));
  std::fclose(file);
}

// OpenSSL's error queue is per thread: drained here so that a later, unrelated failure is not
// reported with this one's reasons.
std::string TakeSslErrors() {
  std::string errors;
  while (const unsigned long code = ERR_get_error()) {
    if (!errors.empty()) errors += "; ";
    const char* reason = ERR_reason_error_string(code);
    errors += reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
  }
  return errors;
}

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a connection the peer has
// closed; this one sends with MSG_NOSIGNAL, like TSocket. Everything else is the socket BIO's.
int SendWithoutSignal(BIO* bio, const char* data, int size) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  errno = 0;
  const ssize_t sent = send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (sent <= 0 && BIO_sock_should_retry(static_cast<int>(sent))) BIO_set_retry_write(bio);
  return static_cast<int>(sent);
}

const BIO_METHOD* SocketWithoutSignal() {
  // Built once and kept for the process's life: every BIO made from it refers to it.
  static const BIO_METHOD* const method = [] {
    const BIO_METHOD* socket = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "socket without SIGPIPE");
    if (m == nullptr) throw std::bad_alloc();
    BIO_meth_set_write(m, SendWithoutSignal);
    BIO_meth_set_read(m, BIO_meth_get_read(socket));
    BIO_meth_set_puts(m, BIO_meth_get_puts(socket));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(m, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(socket));
    return m;
  }();
  return method;
}

bool IsIpAddress(const std::string& name) {
  in6_addr address;
  return inet_pton(AF_INET, name.c_str(), &address) == 1 ||
         inet_pton(AF_INET6, name.c_str(), &address) == 1;
}

// What identifies a file's contents cheaply: a rewrite or a replacement changes one of these.
std::string FileVersion(const std::string& path) {
  struct stat info;
  if (path.empty() || stat(path.c_str(), &info) != 0) return "-";
  return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" +
         std::to_string(info.st_size) + ":" + std::to_string(info.st_mtim.tv_sec) + "." +
         std::to_string(info.st_mtim.tv_nsec);
}

}  // namespace

// TSSLSocketFactory initialises OpenSSL for as long as one exists and owns the SSLContext; the
// subclass only exposes that context, so that TlsSocket (not TSSLSocket) can be built on it.
class TlsContext::Factory : public apache::thrift::transport::TSSLSocketFactory {
 public:
  Factory() : TSSLSocketFactory(apache::thrift::transport::SSLTLS) {}
  const std::shared_ptr<SSLContext>& context() const { return ctx_; }
};

TlsContext::TlsContext(std::unique_ptr<Factory> factory, bool verify_peer)
    : factory_(std::move(factory)), verify_peer_(verify_peer) {}

TlsContext::~TlsContext() = default;

const std::shared_ptr<SSLContext>& TlsContext::ssl_context() const { return factory_->context(); }

std::uint64_t TlsContext::built() { return contexts_built.load(std::memory_order_relaxed); }

std::shared_ptr<TlsContext> TlsContext::Build(bool server, const std::string& ca_file,
                                              const std::string& cert_file,
                                              const std::string& key_file, bool verify_peer,
                                              const std::string& field_prefix) {
  RequireReadable(ca_file, field_prefix + "ca_file");
  RequireReadable(cert_file, field_prefix + "cert_file");
  RequireReadable(key_file, field_prefix + "key_file");
  auto factory = std::make_unique<Factory>();
  SSL_CTX* const ctx = factory->context()->get();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("OpenSSL refuses a TLS 1.2 minimum: " + TakeSslErrors());
  }
  // A passphrase-protected key then fails to load, instead of OpenSSL prompting on the terminal.
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
  factory->server(server);
  try {
    if (!ca_file.empty()) {
      factory->loadTrustedCertificates(ca_file.c_str());
    } else if (!server) {
      SSL_CTX_set_default_verify_paths(ctx);
    }
  } catch (const TTransportException& e) {
    Fail(field_prefix + "ca_file",
         "'" + ca_file + "' holds no usable PEM certificate (" + e.what() + ")");
  }
  if (!cert_file.empty()) {
    try {
      factory->loadCertificate(cert_file.c_str());
    } catch (const TTransportException& e) {
      Fail(field_prefix + "cert_file",
           "'" + cert_file + "' holds no usable PEM certificate (" + e.what() + ")");
    }
  }
  if (!key_file.empty()) {
    try {
      factory->loadPrivateKey(key_file.c_str());
    } catch (const TTransportException& e) {
      Fail(field_prefix + "key_file",
           "'" + key_file + "' holds no usable unencrypted PEM private key (" + e.what() + ")");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      Fail(field_prefix + "key_file", "'" + key_file + "' does not match the certificate in '" +
                                          cert_file + "' (" + TakeSslErrors() + ")");
    }
  }
  // A client verifies the server unless told not to; a server asks for (and requires) a client
  // certificate exactly when it has CAs to check one against.
  factory->authenticate(server ? !ca_file.empty() : verify_peer);
  ERR_clear_error();
  contexts_built.fetch_add(1, std::memory_order_relaxed);
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(factory), verify_peer));
}

std::shared_ptr<TlsContext> TlsContext::ForClient(const TlsOptions& options) {
  struct Entry {
    std::shared_ptr<TlsContext> context;
    std::uint64_t built_at;
  };
  // Never destroyed: a pool's background thread may still open connections while static
  // destructors run at exit.
  static std::mutex* const mu = new std::mutex;
  static auto* const cache = new std::map<std::string, Entry>;  // guarded by *mu
  static std::uint64_t builds = 0;                              // guarded by *mu

  const std::string key = options.ca_file + '\0' + FileVersion(options.ca_file) + '\0' +
                          options.cert_file + '\0' + FileVersion(options.cert_file) + '\0' +
                          options.key_file + '\0' + FileVersion(options.key_file) + '\0' +
                          (options.verify_peer ? "verify" : "no-verify");
  {
    std::lock_guard lock(*mu);
    if (const auto it = cache->find(key); it != cache->end()) return it->second.context;
  }
  // Built outside the lock: reading files must not stall connections that use other settings.
  // Two threads may both build the same one; the first stored wins.
  std::shared_ptr<TlsContext> context =
      Build(/*server=*/false, options.ca_file, options.cert_file, options.key_file,
            options.verify_peer, "ClientOptions.tls.");
  std::lock_guard lock(*mu);
  const auto [it, inserted] = cache->emplace(key, Entry{context, ++builds});
  if (inserted && cache->size() > kMaxCachedContexts) {
    cache->erase(std::min_element(cache->begin(), cache->end(), [](const auto& a, const auto& b) {
      return a.second.built_at < b.second.built_at;
    }));
  }
  return it->second.context;
}

std::shared_ptr<TlsContext> TlsContext::ForServer(const std::string& cert_file,
                                                  const std::string& key_file,
                                                  const std::string& ca_file,
                                                  const std::string& field_prefix) {
  if (cert_file.empty()) Fail(field_prefix + "cert_file", "a TLS server needs a certificate");
  if (key_file.empty()) Fail(field_prefix + "key_file", "a TLS server needs a private key");
  return Build(/*server=*/true, ca_file, cert_file, key_file, /*verify_peer=*/!ca_file.empty(),
               field_prefix);
}

TlsSocket::TlsSocket(std::shared_ptr<TlsContext> context, const std::string& host, int port,
                     std::string server_name,
                     std::shared_ptr<apache::thrift::TConfiguration> config)
    : TSSLSocket(context->ssl_context(), host, port, std::move(config)),
      context_(std::move(context)),
      server_name_(std::move(server_name)) {}

TlsSocket::TlsSocket(std::shared_ptr<TlsContext> context, THRIFT_SOCKET fd,
                     std::shared_ptr<THRIFT_SOCKET> interrupt_listener)
    : TSSLSocket(context->ssl_context(), fd, std::move(interrupt_listener)),
      context_(std::move(context)) {
  server(true);
  AttachSsl();
}

TlsSocket::~TlsSocket() { close(); }

void TlsSocket::AttachSsl() {
  const int flags = fcntl(socket_, F_GETFL, 0);
  if (flags < 0 || fcntl(socket_, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw TTransportException(
        TTransportException::NOT_OPEN,
        std::string("TLS: cannot make the socket non-blocking: ") + std::strerror(errno));
  }
  ssl_ = ctx_->createSSL();
  BIO* const bio = BIO_new(SocketWithoutSignal());
  if (bio == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    throw TTransportException(TTransportException::NOT_OPEN, "TLS: BIO_new failed");
  }
  BIO_set_fd(bio, static_cast<int>(socket_), BIO_NOCLOSE);
  SSL_set_bio(ssl_, bio, bio);
}

void TlsSocket::open() {
  if (isOpen()) throw TTransportException(TTransportException::BAD_ARGS, "TLS: already open");
  const Clock::time_point start = Clock::now();
  TSocket::open();
  try {
    int timeout_ms = -1;
    if (connTimeout_ > 0) {
      const auto spent =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      timeout_ms = std::max(1, connTimeout_ - static_cast<int>(spent));
    }
    AttachSsl();
    if (!IsIpAddress(server_name_)) SSL_set_tlsext_host_name(ssl_, server_name_.c_str());
    if (context_->verify_peer()) {
      X509_VERIFY_PARAM* const param = SSL_get0_param(ssl_);
      X509_VERIFY_PARAM_set_hostflags(
          param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
      const int named =
          IsIpAddress(server_name_)
              ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name_.c_str())
              : X509_VERIFY_PARAM_set1_host(param, server_name_.c_str(), server_name_.size());
      if (named != 1) {
        throw TTransportException(TTransportException::BAD_ARGS,
                                  "TLS: cannot verify the name '" + server_name_ + "'");
      }
    }
    Handshake(timeout_ms);
    // With verification off OpenSSL still records why the chain would fail, and TSSLSocket's
    // authorize() would refuse the connection for it.
    if (!context_->verify_peer()) SSL_set_verify_result(ssl_, X509_V_OK);
    // The handshake is complete: this only runs TSSLSocket's authorize() and marks it done.
    initializeHandshake();
  } catch (...) {
    close();
    throw;
  }
}

void TlsSocket::Handshake(int timeout_ms) {
  const std::string peer = getHost() + ":" + std::to_string(getPort());
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl_);
    if (rc == 1) return;
    const int error = SSL_get_error(ssl_, rc);
    const int errno_copy = errno;
    short events = 0;
    if (error == SSL_ERROR_WANT_READ) {
      events = POLLIN;
    } else if (error == SSL_ERROR_WANT_WRITE) {
      events = POLLOUT;
    } else {
      std::string why;
      const long verify = SSL_get_verify_result(ssl_);
      std::string errors = TakeSslErrors();
      if (verify != X509_V_OK) {
        why = std::string("the server's certificate was rejected: ") +
              X509_verify_cert_error_string(verify);
      } else if (!errors.empty()) {
        why = errors;
        // An alert is the server refusing us; anything else is most likely not TLS at all.
        if (errors.find("alert") == std::string::npos) why += " (is the server speaking TLS?)";
      } else if (error == SSL_ERROR_SYSCALL && errno_copy != 0) {
        why = std::strerror(errno_copy);
      } else {
        why = "the server closed the connection during the handshake (is it speaking TLS?)";
      }
      throw TTransportException(TTransportException::NOT_OPEN,
                                "TLS handshake with " + peer + " failed: " + why);
    }
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    pollfd ready{socket_, events, 0};
    const int polled = wait_ms == 0 ? 0 : poll(&ready, 1, wait_ms);
    if (polled == 0) {
      throw TTransportException(TTransportException::TIMED_OUT,
                                "TLS handshake with " + peer +
                                    " timed out: connect and handshake " + "took over " +
                                    std::to_string(connTimeout_) + " ms");
    }
    if (polled < 0 && errno != EINTR) {
      throw TTransportException(TTransportException::NOT_OPEN,
                                "TLS handshake with " + peer + ": poll: " + std::strerror(errno));
    }
  }
}

void TlsSocket::close() {
  if (ssl_ != nullptr) {
    // One non-blocking try at close_notify; the peer's answer is not awaited.
    if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
    ERR_clear_error();
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  TSocket::close();
}

void TlsSocket::write(const uint8_t* buf, uint32_t len) {
  for (uint32_t done = 0; done < len;) {
    const uint32_t sent = write_partial(buf + done, len - done);
    if (sent == 0)
      throw TTransportException(TTransportException::UNKNOWN, "TLS: write made no progress");
    done += sent;
  }
}

uint32_t TlsSocket::write_partial(const uint8_t* buf, uint32_t len) {
  uint32_t sent = 0;
  try {
    sent = TSSLSocket::write_partial(buf, std::min(len, kMaxRecord));
  } catch (const TTransportException& e) {
    // A server that refuses us after our side of the handshake (TLS 1.3: a missing or unknown
    // client certificate) sends an alert and closes: the write then fails with "Broken pipe",
    // while the reason waits unread in the socket.
    const std::string alert = PendingAlert();
    if (alert.empty()) throw;
    throw TTransportException(e.getType(), std::string(e.what()) + "; the server sent: " + alert);
  }
  bytes_sent_ += sent;
  return sent;
}

std::string TlsSocket::PendingAlert() {
  if (ssl_ == nullptr) return "";
  ERR_clear_error();
  char byte;
  const int rc = SSL_peek(ssl_, &byte, 1);
  const std::string errors = rc <= 0 ? TakeSslErrors() : "";
  ERR_clear_error();
  return errors.find("alert") != std::string::npos ? errors : "";
}

bool TlsSocket::Probe() {
  if (ssl_ == nullptr || socket_ == THRIFT_INVALID_SOCKET) return false;
  if (SSL_has_pending(ssl_)) return false;
  pollfd events{socket_, POLLIN | POLLRDHUP, 0};
  const int ready = poll(&events, 1, 0);
  if (ready == 0) return true;
  if (ready < 0) return errno == EINTR;
  if (events.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return false;
  // Readable while idle. SSL_peek processes what arrived without consuming application data:
  // it returns data (a late answer), 0 on close_notify, an error on an alert or garbage, and
  // WANT_READ when all it found were post-handshake messages such as session tickets.
  ERR_clear_error();
  char byte;
  const int rc = SSL_peek(ssl_, &byte, 1);
  const int error = rc > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
  ERR_clear_error();
  return rc <= 0 && error == SSL_ERROR_WANT_READ && !SSL_has_pending(ssl_);
}

}  // namespace thriftpool::internal
