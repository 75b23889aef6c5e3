// A deliberately plain HTTP/1.x client over a POSIX socket, for the metrics tests: it sends exactly
// the bytes a test gives it (garbage, a header a byte at a time, nothing at all) and reads with
// bounded waits. Loopback only: it connects to 127.0.0.1 or ::1.
#ifndef THRIFTPOOL_TESTS_METRICS_HTTP_TEST_CLIENT_H_
#define THRIFTPOOL_TESTS_METRICS_HTTP_TEST_CLIENT_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace thriftpool::metrics_test {

struct HttpResponse {
  int status = 0;
  std::string version;                         // "HTTP/1.1"
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string Header(const std::string& lower_case_name) const;
};

// One TCP connection. Not thread-safe.
class HttpConnection {
 public:
  // Connects to host:port (host "127.0.0.1" or "::1"); ok() tells whether that worked.
  HttpConnection(int port, const std::string& host = "127.0.0.1");
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  // Sends all of `bytes`; false if the connection is broken.
  bool Send(std::string_view bytes);
  // Reads one response within `timeout`: the body by Content-Length, or up to the end of the
  // stream without one (bodyless answers to HEAD are read by `head`). nullopt on a timeout, or a
  // close or reset before the response is complete.
  std::optional<HttpResponse> ReadResponse(std::chrono::milliseconds timeout, bool head = false);
  // True when the peer closes or resets the connection within `timeout` (bytes that arrive
  // meanwhile are dropped).
  bool ClosedWithin(std::chrono::milliseconds timeout);

 private:
  // Reads what is there into buffer_ waiting until `deadline`; false at the end of the stream,
  // an error or the deadline.
  bool ReadMore(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool eof_ = false;
  std::string buffer_;
};

// A new connection, "GET target HTTP/1.0" with Host, and its response. HTTP/1.0, so that servers
// (Prometheus) send the body as it is, not chunked, and close.
std::optional<HttpResponse> HttpGet(int port, const std::string& target,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                    const std::string& host = "127.0.0.1");

// Percent-encodes everything but unreserved characters (for query strings).
std::string UrlEncode(std::string_view text);

}  // namespace thriftpool::metrics_test

#endif  // THRIFTPOOL_TESTS_METRICS_HTTP_TEST_CLIENT_H_
