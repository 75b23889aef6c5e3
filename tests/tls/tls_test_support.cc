#include "tls_test_support.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "support/child_process.h"

namespace thriftpool::tls_test {
namespace {

constexpr int kPollSliceMs = 20;

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int ListenOnLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 16) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    Fail("listen on 127.0.0.1");
  }
  *port = ntohs(address.sin_port);
  return fd;
}

// Accepts one connection if one arrives within kPollSliceMs; -1 otherwise.
int AcceptSlice(int listener) {
  pollfd events{listener, POLLIN, 0};
  if (poll(&events, 1, kPollSliceMs) != 1) return -1;
  return accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
}

class CertDirectory {
 public:
  CertDirectory() {
    char pattern[] = "/tmp/thriftpool-tls-XXXXXX";
    if (mkdtemp(pattern) == nullptr) Fail("mkdtemp");
    path_ = pattern;
    const testing_support::ProcessResult made = testing_support::RunProcess(
        {MAKE_TEST_CERTS_PATH, path_}, std::chrono::milliseconds(60000));
    if (made.exit_code != 0) {
      throw std::runtime_error("make_test_certs failed: " + made.err);
    }
  }
  ~CertDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

const std::string& CertDir() {
  static const CertDirectory directory;
  return directory.path();
}

std::string Cert(const std::string& name) { return CertDir() + "/" + name; }

ClientOptions TlsClient(int port) {
  ClientOptions options;
  options.port = port;
  options.connect_timeout = std::chrono::milliseconds(500);
  options.recv_timeout = std::chrono::milliseconds(10000);
  options.send_timeout = std::chrono::milliseconds(10000);
  options.tls.enabled = true;
  options.tls.ca_file = Cert("ca.pem");
  return options;
}

example::UserServerOptions TlsServer(const std::string& name, const std::string& client_ca) {
  example::UserServerOptions options;
  options.users = 1000;
  options.tls_cert_file = Cert(name + ".pem");
  options.tls_key_file = Cert(name + ".key");
  if (!client_ca.empty()) options.tls_ca_file = Cert(client_ca);
  return options;
}

TlsPeer::TlsPeer(const std::string& cert, After after) : after_(after) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (ctx_ == nullptr ||
      SSL_CTX_use_certificate_chain_file(ctx_, Cert(cert + ".pem").c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx_, Cert(cert + ".key").c_str(), SSL_FILETYPE_PEM) != 1) {
    SSL_CTX_free(ctx_);
    throw std::runtime_error("TlsPeer: cannot load " + cert);
  }
  listener_ = ListenOnLoopback(&port_);
  thread_ = std::thread([this] { Serve(); });
}

TlsPeer::~TlsPeer() {
  stop_ = true;
  thread_.join();
  close(listener_);
  SSL_CTX_free(ctx_);
}

std::string TlsPeer::last_sni() const {
  std::lock_guard lock(mu_);
  return last_sni_;
}

void TlsPeer::Serve() {
  // OpenSSL writes with write(2) here: a client that has left already (session tickets go out
  // at the end of SSL_accept) must not kill the test with SIGPIPE. Only this thread is spared;
  // the code under test must manage without.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  SSL* ssl = nullptr;
  int fd = -1;
  const auto drop = [&] {
    SSL_free(ssl);
    ssl = nullptr;
    if (fd >= 0) close(fd);
    fd = -1;
  };
  while (!stop_) {
    const int next = AcceptSlice(listener_);
    if (next < 0) continue;
    drop();
    fd = next;
    // Blocking, but bounded: a client that stalls the handshake is cut off after 2 s.
    timeval limit{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
      ERR_clear_error();
      drop();
      continue;
    }
    {
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      std::lock_guard lock(mu_);
      last_sni_ = sni != nullptr ? sni : "";
    }
    // Before the count goes up, so that a test seeing the handshake also sees what follows.
    if (after_ == After::kSendData) {
      SSL_write(ssl, "late!", 5);
    } else if (after_ == After::kCloseNotify) {
      SSL_shutdown(ssl);
    }
    ERR_clear_error();
    handshakes_.fetch_add(1);
  }
  drop();
}

SilentListener::SilentListener() {
  listener_ = ListenOnLoopback(&port_);
  thread_ = std::thread([this] {
    while (!stop_) {
      const int fd = AcceptSlice(listener_);
      if (fd < 0) continue;
      connections_.push_back(fd);
      accepted_.fetch_add(1);
    }
  });
}

SilentListener::~SilentListener() {
  stop_ = true;
  thread_.join();
  for (const int fd : connections_) close(fd);
  close(listener_);
}

}  // namespace thriftpool::tls_test
