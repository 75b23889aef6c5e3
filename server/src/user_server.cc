#include <glog/logging.h>
#include <thrift/TProcessor.h>
#include <thrift/processor/TMultiplexedProcessor.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/tls_socket.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <climits>
#include <exception>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "ServerInfo.h"
#include "UserService.h"
#include "server_info_handler.h"
#include "tracked_server_socket.h"
#include "user_service_handler.h"
#include "user_store.h"

namespace thriftpool::example {
namespace {

using apache::thrift::TProcessorEventHandler;
using apache::thrift::protocol::TProtocolFactory;
using apache::thrift::server::TServerEventHandler;
using apache::thrift::server::TThreadedServer;
using apache::thrift::transport::TTransportFactory;
using internal::ConnectionTracker;

void Require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw std::invalid_argument(std::string("UserServerOptions.") + field + ": " + why);
}

// Counts each call as the processor dispatches it, before the handler runs: a client that got
// its answer always sees its call counted.
class CallCounter : public TProcessorEventHandler {
 public:
  void* getContext(const char* /*fn_name*/, void* /*server_context*/) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  std::uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> calls_{0};
};

// Settles once: listening (preServe) or the error that ended serve() before it got there.
class ListeningSignal : public TServerEventHandler {
 public:
  std::future<void> future() { return promise_.get_future(); }
  void preServe() override { Settle(nullptr); }
  // False when the server had been listening already, so nobody is waiting for the error.
  bool Fail(std::exception_ptr error) { return Settle(std::move(error)); }

 private:
  bool Settle(std::exception_ptr error) {
    std::lock_guard lock(mu_);
    if (settled_) return false;
    settled_ = true;
    if (error) {
      promise_.set_exception(std::move(error));
    } else {
      promise_.set_value();
    }
    return true;
  }

  std::mutex mu_;
  bool settled_ = false;  // guarded by mu_
  std::promise<void> promise_;
};

std::shared_ptr<TTransportFactory> MakeTransportFactory(TransportKind kind) {
  if (kind == TransportKind::kFramed) {
    return std::make_shared<apache::thrift::transport::TFramedTransportFactory>();
  }
  return std::make_shared<apache::thrift::transport::TBufferedTransportFactory>();
}

std::shared_ptr<TProtocolFactory> MakeProtocolFactory(ProtocolKind kind) {
  if (kind == ProtocolKind::kCompact) {
    return std::make_shared<apache::thrift::protocol::TCompactProtocolFactory>();
  }
  return std::make_shared<apache::thrift::protocol::TBinaryProtocolFactory>();
}

UserServerOptions Validated(UserServerOptions options) {
  ValidateUserServerOptions(options);
  return options;
}

// Reads the files once: every Start serves with the same context.
std::shared_ptr<thriftpool::internal::TlsContext> ServerTlsContext(
    const UserServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) return nullptr;
  return thriftpool::internal::TlsContext::ForServer(options.tls_cert_file, options.tls_key_file,
                                                     options.tls_ca_file, "UserServerOptions.tls_");
}

}  // namespace

void ValidateUserServerOptions(const UserServerOptions& options) {
  Require(!options.host.empty(), "host", "must not be empty");
  Require(options.port >= 0 && options.port <= 65535, "port",
          "must be within 0..65535 (got " + std::to_string(options.port) + ")");
  Require(options.users >= 0, "users",
          "must not be negative (got " + std::to_string(options.users) + ")");
  Require(options.idle_timeout.count() >= 0 && options.idle_timeout.count() <= INT_MAX,
          "idle_timeout",
          "must be within 0.." + std::to_string(INT_MAX) + " ms (got " +
              std::to_string(options.idle_timeout.count()) + " ms)");
  Require(options.get_user_delay.count() >= 0 && options.get_user_delay <= std::chrono::minutes(1),
          "get_user_delay",
          "must be within 0..60 s (got " + std::to_string(options.get_user_delay.count()) + " us)");
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  Require(tls || options.tls_ca_file.empty(), "tls_ca_file",
          "requires client certificates, so it needs tls_cert_file and tls_key_file");
  if (tls) ServerTlsContext(options);  // reads and checks the files
}

class UserServer::Impl {
 public:
  explicit Impl(UserServerOptions options)
      : options_(Validated(std::move(options))),
        store_(std::make_shared<UserStore>(options_.users)),
        tls_(ServerTlsContext(options_)) {}

  void Start();
  void Stop();
  const UserServerOptions& options() const { return options_; }
  int port() const { return port_.load(); }
  ConnectionTracker& connections() const { return *connections_; }
  std::uint64_t calls() const { return calls_->calls(); }

 private:
  const UserServerOptions options_;
  const std::shared_ptr<UserStore> store_;
  const std::shared_ptr<ConnectionTracker> connections_ = std::make_shared<ConnectionTracker>();
  const std::shared_ptr<CallCounter> calls_ = std::make_shared<CallCounter>();
  const std::shared_ptr<thriftpool::internal::TlsContext> tls_;  // null: plaintext
  // 0 until the first Start binds a port; every later Start binds the same one.
  std::atomic<int> port_{0};

  // Start and Stop run one at a time, and alone touch the members below.
  std::mutex lifecycle_mu_;
  std::shared_ptr<UserServiceHandler> handler_;
  std::unique_ptr<TThreadedServer> server_;
  std::thread serve_thread_;
};

void UserServer::Impl::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (server_) return;
  RouteThriftLogsToGlog();
  const int port = port_ != 0 ? port_.load() : options_.port;
  auto socket =
      std::make_shared<internal::TrackedServerSocket>(options_.host, port, connections_, tls_);
  if (options_.idle_timeout.count() > 0) {
    // An accepted socket waits this long for a request; TThreadedServer takes the timeout as the
    // client leaving and closes the connection.
    socket->setRecvTimeout(static_cast<int>(options_.idle_timeout.count()));
  }
  auto handler = std::make_shared<UserServiceHandler>(store_, options_.get_user_delay);
  std::shared_ptr<apache::thrift::TProcessor> processor =
      std::make_shared<UserServiceProcessor>(handler);
  processor->setEventHandler(calls_);
  if (options_.multiplex) {
    auto multiplexed = std::make_shared<apache::thrift::TMultiplexedProcessor>();
    multiplexed->registerProcessor(kUserServiceName, processor);
    // Clients that do not multiplex keep working during a migration.
    multiplexed->registerDefault(processor);
    auto info = std::make_shared<ServerInfoProcessor>(std::make_shared<ServerInfoHandler>(store_));
    info->setEventHandler(calls_);
    multiplexed->registerProcessor(kServerInfoName, info);
    processor = multiplexed;
  }
  auto server =
      std::make_unique<TThreadedServer>(processor, socket, MakeTransportFactory(options_.transport),
                                        MakeProtocolFactory(options_.protocol));
  auto listening = std::make_shared<ListeningSignal>();
  server->setServerEventHandler(listening);
  std::future<void> listening_future = listening->future();

  serve_thread_ = std::thread([server = server.get(), listening] {
    try {
      server->serve();
    } catch (const std::exception& e) {
      if (!listening->Fail(std::current_exception())) {
        LOG(ERROR) << "UserServer: serving stopped: " << e.what();
      }
    }
  });
  try {
    listening_future.get();
  } catch (...) {
    serve_thread_.join();
    throw;
  }
  handler_ = std::move(handler);
  server_ = std::move(server);
  port_ = socket->getPort();
  LOG(INFO) << "UserServer: listening on " << options_.host << ":" << port_.load() << " ("
            << ToString(options_.transport) << ", " << ToString(options_.protocol)
            << (options_.multiplex ? ", multiplexed" : "")
            << (tls_ ? (options_.tls_ca_file.empty() ? ", TLS" : ", mutual TLS") : "") << ")";
}

void UserServer::Impl::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!server_) return;
  handler_->Shutdown();
  // stop() ends the accept loop and interrupts the connections waiting for a request; the
  // shutdowns also free a thread stuck writing to a client that does not read.
  server_->stop();
  connections_->EndAll(ConnectionTracker::Ending::kClose);
  // serve() returns once every connection thread has finished.
  serve_thread_.join();
  server_.reset();
  handler_.reset();
  LOG(INFO) << "UserServer: stopped on port " << port_.load();
}

UserServer::UserServer(UserServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

UserServer::~UserServer() { Stop(); }

void UserServer::Start() { impl_->Start(); }

void UserServer::Stop() { impl_->Stop(); }

int UserServer::port() const { return impl_->port(); }

const std::string& UserServer::host() const { return impl_->options().host; }

std::size_t UserServer::connection_count() const { return impl_->connections().size(); }

void UserServer::KillConnections() {
  impl_->connections().EndAll(ConnectionTracker::Ending::kReset);
}

std::uint64_t UserServer::calls() const { return impl_->calls(); }

}  // namespace thriftpool::example
