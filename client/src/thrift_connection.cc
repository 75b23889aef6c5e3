#include <errno.h>
#include <glog/logging.h>
#include <poll.h>
#include <sys/socket.h>
#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/protocol/TMultiplexedProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <thriftpool/internal/log_limiter.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/tls_socket.h>

#include <mutex>
#include <string>

#include "sequence_checking_protocol.h"

namespace thriftpool {
namespace internal {

// A TSocket that counts the bytes the kernel accepted, so that a failed call can tell whether
// any of its request left (a retry is safe only if none did). TSocket::write loops over the
// virtual write_partial, so counting there sees every byte of every transport on top.
class CountingSocket : public apache::thrift::transport::TSocket {
 public:
  using TSocket::TSocket;
  uint32_t write_partial(const uint8_t* buf, uint32_t len) override {
    const uint32_t sent = TSocket::write_partial(buf, len);
    bytes_sent_ += sent;
    return sent;
  }
  std::uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace internal

namespace {

using apache::thrift::TConfiguration;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TMultiplexedProtocol;
using apache::thrift::transport::TBufferedTransport;
using apache::thrift::transport::TFramedTransport;
using apache::thrift::transport::TTransportException;

int Millis(std::chrono::milliseconds value) { return static_cast<int>(value.count()); }

}  // namespace

ThriftConnection::ThriftConnection(const ClientOptions& options,
                                   std::shared_ptr<ConnectionCounters> counters) {
  ValidateClientOptions(options);
  config_ = std::make_shared<TConfiguration>(options.max_message_size, options.max_frame_size);
  std::shared_ptr<apache::thrift::transport::TSocket> socket;
  if (options.tls.enabled) {
    const std::string& name =
        options.tls.server_name.empty() ? options.host : options.tls.server_name;
    socket = tls_socket_ = std::make_shared<internal::TlsSocket>(
        internal::TlsContext::ForClient(options.tls), options.host, options.port, name, config_);
  } else {
    socket = socket_ =
        std::make_shared<internal::CountingSocket>(options.host, options.port, config_);
  }
  socket->setConnTimeout(Millis(options.connect_timeout));
  socket->setRecvTimeout(Millis(options.recv_timeout));
  socket->setSendTimeout(Millis(options.send_timeout));
  socket->setKeepAlive(options.tcp_keepalive);
  if (options.transport == TransportKind::kFramed) {
    transport_ = std::make_shared<TFramedTransport>(socket, config_);
  } else {
    transport_ = std::make_shared<TBufferedTransport>(socket, config_);
  }
  // Thrift checks max_message_size only as bytes arrive, after sizing a string or container for
  // the length the peer announced; these limits refuse a huge announced length before that.
  const std::int32_t limit = options.max_message_size;
  if (options.protocol == ProtocolKind::kCompact) {
    protocol_ = std::make_shared<TCompactProtocol>(transport_, limit, limit);
  } else {
    protocol_ = std::make_shared<TBinaryProtocol>(transport_, limit, limit, /*strict_read=*/false,
                                                  /*strict_write=*/true);
  }
  if (!options.multiplexed_service.empty()) {
    protocol_ = std::make_shared<TMultiplexedProtocol>(protocol_, options.multiplexed_service);
  }
  // Outermost, so that it sees the method name the client wrote, not the multiplexed one.
  if (options.check_sequence_ids) {
    std::shared_ptr<std::atomic<std::uint64_t>> mismatches;
    if (counters) mismatches = {counters, &counters->sequence_mismatches};
    protocol_ = std::make_shared<internal::SequenceCheckingProtocol>(protocol_, mismatches,
                                                                     options.multiplexed_service);
  }
  try {
    transport_->open();
  } catch (const TTransportException& e) {
    // TSocket reports a connect timeout as NOT_OPEN, like a refusal; callers need to tell a
    // dead or unreachable host from a refused port.
    if (e.getType() == TTransportException::NOT_OPEN &&
        std::string(e.what()).find("timed out") != std::string::npos) {
      throw TTransportException(TTransportException::TIMED_OUT,
                                "connect to " + options.host + ":" + std::to_string(options.port) +
                                    " timed out after " +
                                    std::to_string(options.connect_timeout.count()) + " ms");
    }
    throw;
  }
}

ThriftConnection::~ThriftConnection() { Close(); }

bool ThriftConnection::Probe() const {
  if (tls_socket_) return tls_socket_->Probe();
  const int fd = socket_->getSocketFD();
  if (fd < 0) return false;
  pollfd events{fd, POLLIN | POLLRDHUP, 0};
  const int ready = poll(&events, 1, 0);
  if (ready == 0) return true;  // nothing arrived, nothing broke: the healthy case
  if (ready < 0) return errno == EINTR;
  if (events.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return false;
  // Readable while idle: a close (0), a reset (-1) or a late answer (> 0) all mean discard.
  char byte;
  const ssize_t peeked = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::uint64_t ThriftConnection::bytes_sent() const {
  return tls_socket_ ? tls_socket_->bytes_sent() : socket_->bytes_sent();
}

void ThriftConnection::Close() noexcept {
  try {
    if (transport_) transport_->close();
  } catch (const std::exception& e) {
    LOG(WARNING) << "thriftpool: closing a connection failed: " << e.what();
  }
}

void RouteThriftLogsToGlog() {
  static std::once_flag once;
  std::call_once(once, [] {
    apache::thrift::GlobalOutput.setOutputFunction([](const char* message) {
      // Thrift writes a line per refused or timed-out connect, that is per call while a server
      // is down: a burst, then one line per period, saying how many were dropped.
      static internal::LogLimiter limiter;
      std::uint64_t suppressed = 0;
      if (!limiter.Allow(&suppressed)) return;
      LOG(WARNING) << "thrift: " << message
                   << (suppressed == 0 ? ""
                                       : " (" + std::to_string(suppressed) +
                                             " earlier Thrift diagnostics suppressed)");
    });
  });
}

}  // namespace thriftpool
