// HttpConnection: one HTTP/1.1 exchange with etcd's gateway over a plain TCP socket, every wait
// bounded by a deadline and ended early by a StopSignal. Beast parses the response (chunked or
// not); the socket I/O is poll(2), so that one wait covers the socket and the stop signal. Not
// part of the public API.
#ifndef THRIFTPOOL_DISCOVERY_SRC_HTTP_CONNECTION_H_
#define THRIFTPOOL_DISCOVERY_SRC_HTTP_CONNECTION_H_

#include <thriftpool/etcd_options.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "etcd_url.h"
#include "stop_signal.h"

namespace thriftpool::discovery::internal {

using Clock = std::chrono::steady_clock;

// A response body, or one line of a streamed body, may not exceed this.
inline constexpr std::size_t kMaxBodyBytes = 4 << 20;

// What a wait that reached its deadline throws. After NextLine threw it, the connection is still
// usable: what was read of the stream so far stays for the next call.
class DeadlinePassed : public EtcdError {
 public:
  using EtcdError::EtcdError;
};

// Errors: EtcdError naming the URL (refused, unreachable, deadline passed (DeadlinePassed), HTTP
// status other than 200, a malformed or oversized response, the connection closed early); Stopped
// when `stop` was triggered. Not thread-safe: one thread per connection.
class HttpConnection {
 public:
  // Connects within `deadline`. `stop` may be null (then nothing but the deadline ends a wait).
  HttpConnection(const EtcdUrl& url, Clock::time_point deadline, const StopSignal* stop);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends POST `path` with a JSON body.
  void Post(const std::string& path, const std::string& body, Clock::time_point deadline);
  // Reads the whole response and returns its body.
  std::string ReadResponse(Clock::time_point deadline);
  // For a streamed response: the next line of the body (without '\n'), reading the header first
  // if need be; std::nullopt once the body has ended.
  std::optional<std::string> NextLine(Clock::time_point deadline);

 private:
  [[noreturn]] void Fail(const std::string& what) const;
  // Waits for `events` on the socket; throws on the deadline or the stop signal.
  void Wait(short events, Clock::time_point deadline) const;
  // Reads what the socket has into the parser; false at end of stream.
  bool ReadMore(Clock::time_point deadline);
  void ReadHeader(Clock::time_point deadline);

  EtcdUrl url_;
  const StopSignal* stop_;
  int fd_ = -1;
  std::string unparsed_;  // bytes read but not yet taken by the parser
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
};

}  // namespace thriftpool::discovery::internal

#endif  // THRIFTPOOL_DISCOVERY_SRC_HTTP_CONNECTION_H_
