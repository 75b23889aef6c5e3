// MetricsServer: a small built-in HTTP endpoint for Prometheus, for services that have no HTTP
// server of their own. It answers GET /metrics with what a render function returns (by default
// MetricsRegistry::Default().Render()) and anything else with 404 or 405.
//
//   thriftpool::MetricsServerOptions options;
//   options.port = 9464;                      // 0: any free port, see port()
//   thriftpool::MetricsServer server(options);  // serves until destroyed
//
// Link thriftpool::metrics (Boost.Asio/Beast inside; only the standard library in this header).
#ifndef THRIFTPOOL_METRICS_SERVER_H_
#define THRIFTPOOL_METRICS_SERVER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace thriftpool {

// Where the endpoint listens and what it lets a client do. Every limit bounds what one client
// can take, so that a slow or hostile one cannot keep a scrape from being answered.
struct MetricsServerOptions {
  // An IPv4 or IPv6 address (not a host name). The default serves this machine only; "0.0.0.0"
  // or "::" serve every interface (the metrics name servers and pools: mind who can read them).
  std::string address = "127.0.0.1";
  // 0..65535; 0 picks a free port (MetricsServer::port() tells which).
  int port = 0;
  // The request line and headers together, at most (Beast's default is 8 KiB too). A longer
  // request gets 431 and the connection is closed. At least 1024.
  std::size_t max_header_bytes = 8 * 1024;
  // Time to receive one request (from the moment the server waits for it, so also how long a
  // kept-alive connection may stay silent) and, separately, to send one response. A client
  // slower than this is disconnected. Above 0.
  std::chrono::milliseconds io_timeout{5000};
  // Requests served on one kept-alive connection; the last response says "Connection: close".
  // At least 1.
  std::size_t max_requests_per_connection = 100;
  // Connections open at once, at least 1. A connection accepted beyond this evicts the oldest
  // one that is waiting for its request (a scraper mid-response is never cut off), so idle or
  // trickling clients can delay a scrape by nothing more than an accept.
  std::size_t max_connections = 64;
};

// Throws std::invalid_argument naming the field (e.g. "MetricsServerOptions.port: ...") when
// `options` is not usable: a malformed address, a port outside 0..65535, or a limit below its
// minimum.
void ValidateMetricsServerOptions(const MetricsServerOptions& options);

// The endpoint. One thread serves every connection with asynchronous I/O, so no client can hold
// it up. Responses:
//   GET /metrics (a query string is ignored)  200, Content-Type: text/plain; version=0.0.4;
//                                             charset=utf-8, the render function's text
//   another method on /metrics                405 with Allow: GET
//   any other path                            404
//   a request with a body                     its 404/405, or 400 for GET /metrics; then closed
//   headers over max_header_bytes             431, then closed
//   bytes that are not HTTP/1.x               400, then closed
//   the render function throws                500 with the exception's message
// The render function runs on the server's thread, once per GET /metrics.
// Thread-safety: port() may be called from any thread; construct and destroy from one.
class MetricsServer {
 public:
  using RenderFunction = std::function<std::string()>;

  // Listens and starts serving. Throws std::invalid_argument as ValidateMetricsServerOptions,
  // and std::runtime_error naming the address and port when it cannot listen there (the port is
  // in use, the address is not this machine's, ...).
  explicit MetricsServer(const MetricsServerOptions& options);
  // The same, with `render` producing the body of GET /metrics instead of the default registry.
  // `render` must not be empty.
  MetricsServer(const MetricsServerOptions& options, RenderFunction render);

  // Stops: closes the listening socket and every connection (a response being written is cut
  // off), waits for a render under way, and joins the thread.
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port it listens on (the one chosen when options.port was 0).
  int port() const;
  // "http://ADDRESS:PORT/metrics" (IPv6 addresses in brackets), for logs and tool output.
  std::string url() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_METRICS_SERVER_H_
