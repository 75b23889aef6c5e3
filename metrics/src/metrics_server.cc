// One io_context on one thread: every connection is a chain of asynchronous operations, each
// bounded by a deadline, so a client that sends nothing (or a byte at a time) holds a socket and
// a timer, never the thread. Everything below runs on that thread, except the constructor (before
// the thread starts) and Stop's post; so the session list needs no lock.
#include <thriftpool/metrics_registry.h>
#include <thriftpool/metrics_server.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace thriftpool {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";
// After an error response the connection is closed; what the client still sends is read and
// dropped first (this much at most), because closing a socket with unread bytes sends a reset
// that can destroy the response before the client reads it.
constexpr std::size_t kMaxDrainBytes = 64 * 1024;
// Accept failures that persist (out of descriptors) are retried this often, not in a busy loop.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

[[noreturn]] void Invalid(const char* field, const std::string& what) {
  throw std::invalid_argument(std::string("MetricsServerOptions.") + field + ": " + what);
}

std::string HostPort(const asio::ip::address& address, int port) {
  const std::string host = address.to_string();
  return (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

asio::ip::address ParseAddress(const std::string& text) {
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(text, ec);
  if (ec) Invalid("address", "'" + text + "' is not an IPv4 or IPv6 address");
  return address;
}

// Errors of the HTTP parser that mean the client sent something that is not a request (as
// opposed to the connection ending or timing out, which need no answer).
bool IsMalformedRequest(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

void ValidateMetricsServerOptions(const MetricsServerOptions& options) {
  ParseAddress(options.address);
  if (options.port < 0 || options.port > 65535) {
    Invalid("port", "must be within 0..65535 (got " + std::to_string(options.port) + ")");
  }
  if (options.max_header_bytes < 1024) {
    Invalid("max_header_bytes",
            "must be at least 1024 (got " + std::to_string(options.max_header_bytes) + ")");
  }
  if (options.io_timeout.count() <= 0) {
    Invalid("io_timeout",
            "must be above 0 ms (got " + std::to_string(options.io_timeout.count()) + ")");
  }
  if (options.max_requests_per_connection < 1)
    Invalid("max_requests_per_connection", "must be >= 1");
  if (options.max_connections < 1) Invalid("max_connections", "must be >= 1");
}

class MetricsServer::Impl {
 public:
  Impl(const MetricsServerOptions& options, RenderFunction render);
  ~Impl();

  int port() const { return port_; }
  std::string url() const { return "http://" + HostPort(address_, port_) + "/metrics"; }

 private:
  class Session;
  using SessionList = std::list<std::weak_ptr<Session>>;

  void Accept();
  void OnAccept(const error_code& ec, tcp::socket socket);
  // At max_connections: closes the oldest session waiting for a request. False if none is.
  bool EvictOne();
  void StopOnThread();

  const MetricsServerOptions options_;
  const RenderFunction render_;
  const asio::ip::address address_;
  // Declared before io_: sessions leave it in their destructors, which run inside io_.run().
  SessionList sessions_;  // open connections, oldest first
  bool stopping_ = false;
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  asio::steady_timer accept_retry_{io_};
  int port_ = 0;
  std::thread thread_;
};

// One connection: read a request's header, answer, and again while kept alive.
class MetricsServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)), buffer_(server.options_.max_header_bytes) {}
  ~Session() { server_.sessions_.erase(slot_); }

  void Start(SessionList::iterator slot) {
    slot_ = slot;
    ReadRequest();
  }
  // True while nothing of a response is under way: closing it then loses no answer.
  bool evictable() const { return evictable_; }
  void Close() {
    evictable_ = false;
    stream_.close();  // cancels the pending operation; its handler ends the session
  }

 private:
  void ReadRequest() {
    parser_.emplace();
    head_ = false;
    parser_->header_limit(static_cast<std::uint32_t>(server_.options_.max_header_bytes));
    evictable_ = true;
    stream_.expires_after(server_.options_.io_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(const error_code& ec) {
    evictable_ = false;
    if (server_.stopping_) return;
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return Respond(
          11, http::status::request_header_fields_too_large,
          "request headers over " + std::to_string(server_.options_.max_header_bytes) + " bytes\n",
          /*close=*/true);
    }
    if (IsMalformedRequest(ec)) {
      return Respond(11, http::status::bad_request, "malformed request: " + ec.message() + "\n",
                     true);
    }
    if (ec) return;  // closed, reset or timed out: nobody to answer

    const http::request<http::empty_body>& request = parser_->get();
    const unsigned version = request.version() == 10 ? 10 : 11;
    head_ = request.method() == http::verb::head;
    // The body was not read, so the connection cannot carry another request.
    const bool has_body = !parser_->is_done();
    const bool close = has_body || !request.keep_alive() ||
                       ++served_ >= server_.options_.max_requests_per_connection;
    const std::string_view target(request.target().data(), request.target().size());
    if (target.substr(0, target.find('?')) != "/metrics") {
      return Respond(version, http::status::not_found, "not found; try GET /metrics\n", close);
    }
    if (request.method() != http::verb::get) {
      return Respond(version, http::status::method_not_allowed, "only GET /metrics\n", close);
    }
    if (has_body) {
      return Respond(version, http::status::bad_request, "GET /metrics takes no body\n", close);
    }
    std::string body;
    try {
      body = server_.render_();
    } catch (const std::exception& e) {
      return Respond(version, http::status::internal_server_error,
                     std::string("rendering the metrics failed: ") + e.what() + "\n", close);
    } catch (...) {
      return Respond(version, http::status::internal_server_error, "rendering the metrics failed\n",
                     close);
    }
    Respond(version, http::status::ok, std::move(body), close);
  }

  void Respond(unsigned version, http::status status, std::string body, bool close) {
    response_ = {};
    response_.version(version);
    response_.result(status);
    response_.set(http::field::content_type,
                  status == http::status::ok ? kContentType : "text/plain; charset=utf-8");
    if (status == http::status::method_not_allowed) response_.set(http::field::allow, "GET");
    response_.keep_alive(!close);
    response_.body() = std::move(body);
    response_.prepare_payload();
    // A response to HEAD has the headers of the full one but no body.
    if (head_) response_.body().clear();
    stream_.expires_after(server_.options_.io_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), close](const error_code& ec, std::size_t) {
                        if (ec || self->server_.stopping_) return;
                        if (close) return self->Drain();
                        self->ReadRequest();
                      });
  }

  // Half-closes, then reads and drops what the client still sends (bounded in bytes and
  // time) until it closes too; the session ends with the last handler.
  void Drain() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    evictable_ = true;
    stream_.expires_after(server_.options_.io_timeout);
    DrainSome();
  }
  void DrainSome() {
    stream_.async_read_some(
        asio::buffer(drain_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
          self->drained_ += n;
          if (ec || self->server_.stopping_ || self->drained_ > kMaxDrainBytes) {
            return;
          }
          self->DrainSome();
        });
  }

  Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;  // limited to max_header_bytes
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  std::size_t served_ = 0;
  bool head_ = false;  // the request being answered is a HEAD
  bool evictable_ = false;
  std::array<char, 4096> drain_;
  std::size_t drained_ = 0;
  SessionList::iterator slot_;
};

MetricsServer::Impl::Impl(const MetricsServerOptions& options, RenderFunction render)
    : options_(options), render_(std::move(render)), address_(ParseAddress(options.address)) {
  ValidateMetricsServerOptions(options);
  if (!render_) throw std::invalid_argument("MetricsServer: the render function is empty");
  const tcp::endpoint endpoint(address_, static_cast<unsigned short>(options.port));
  error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  // On Linux SO_REUSEADDR lets a restarted server bind while old connections are in TIME_WAIT;
  // it does not let two servers listen on one port, so "in use" is still reported.
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("MetricsServer: cannot listen on " + HostPort(address_, options.port) +
                             ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  Accept();
  thread_ = std::thread([this] { io_.run(); });
}

MetricsServer::Impl::~Impl() {
  asio::post(io_, [this] { StopOnThread(); });
  thread_.join();  // run() returns once the last session's handler has ended it
}

void MetricsServer::Impl::StopOnThread() {
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (const std::weak_ptr<Session>& weak : sessions_) {
    if (std::shared_ptr<Session> session = weak.lock()) session->Close();
  }
}

void MetricsServer::Impl::Accept() {
  acceptor_.async_accept(
      [this](const error_code& ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void MetricsServer::Impl::OnAccept(const error_code& ec, tcp::socket socket) {
  if (stopping_) return;
  if (ec) {
    accept_retry_.expires_after(kAcceptRetryDelay);
    accept_retry_.async_wait([this](const error_code& wait_ec) {
      if (!wait_ec && !stopping_) Accept();
    });
    return;
  }
  if (sessions_.size() < options_.max_connections || EvictOne()) {
    auto session = std::make_shared<Session>(*this, std::move(socket));
    session->Start(sessions_.insert(sessions_.end(), session));
  }  // else every connection is mid-response: this one is closed unanswered
  Accept();
}

bool MetricsServer::Impl::EvictOne() {
  for (const std::weak_ptr<Session>& weak : sessions_) {
    std::shared_ptr<Session> session = weak.lock();
    if (session && session->evictable()) {
      session->Close();
      return true;
    }
  }
  return false;
}

MetricsServer::MetricsServer(const MetricsServerOptions& options)
    : MetricsServer(options, [] { return MetricsRegistry::Default().Render(); }) {}

MetricsServer::MetricsServer(const MetricsServerOptions& options, RenderFunction render)
    : impl_(std::make_unique<Impl>(options, std::move(render))) {}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const { return impl_->port(); }

std::string MetricsServer::url() const { return impl_->url(); }

}  // namespace thriftpool
