#include "http_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thriftpool/etcd_options.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstring>
#include <memory>
#include <sstream>

namespace thriftpool::discovery::internal {
namespace {

namespace http = boost::beast::http;

constexpr std::size_t kMaxHeaderBytes = 16 << 10;
constexpr std::size_t kReadChunk = 16 << 10;

int MillisUntil(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 1 << 30));
}

// A dead peer behind a half-open connection shows within about 10 s instead of never.
void KeepAlive(int fd) {
  const int on = 1, idle_s = 5, interval_s = 1, probes = 5;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

HttpConnection::HttpConnection(const EtcdUrl& url, Clock::time_point deadline,
                               const StopSignal* stop)
    : url_(url), stop_(stop) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int resolved =
      getaddrinfo(url_.host.c_str(), std::to_string(url_.port).c_str(), &hints, &found);
  if (resolved != 0) Fail(std::string("cannot resolve the host: ") + gai_strerror(resolved));
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  std::string last_error = "no address";
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    fd_ = fd;
    if (connect(fd_, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
    } else {
      Wait(POLLOUT, deadline);
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error == 0) {
        KeepAlive(fd_);
        return;
      }
      last_error = std::strerror(error);
    }
    close(fd_);
    fd_ = -1;
  }
  Fail("connect: " + last_error);
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) close(fd_);
}

void HttpConnection::Fail(const std::string& what) const {
  throw EtcdError("etcd at " + url_.text + ": " + what);
}

void HttpConnection::Wait(short events, Clock::time_point deadline) const {
  for (;;) {
    pollfd waits[2] = {{fd_, events, 0}, {stop_ != nullptr ? stop_->fd() : -1, POLLIN, 0}};
    const int timeout_ms = MillisUntil(deadline);
    const int ready = poll(waits, 2, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) Fail(std::string("poll: ") + std::strerror(errno));
    if (waits[1].revents != 0) throw Stopped{};
    if (waits[0].revents != 0) return;  // ready, or an error the next call reports
    if (timeout_ms == 0 || Clock::now() >= deadline) {
      throw DeadlinePassed("etcd at " + url_.text + ": no answer in time");
    }
  }
}

void HttpConnection::Post(const std::string& path, const std::string& body,
                          Clock::time_point deadline) {
  http::request<http::string_body> request{http::verb::post, path, 11};
  request.set(http::field::host, url_.host + ":" + std::to_string(url_.port));
  request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  std::ostringstream serialized;
  serialized << request;
  const std::string bytes = serialized.str();
  for (std::size_t sent = 0; sent < bytes.size();) {
    Wait(POLLOUT, deadline);
    const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) Fail(std::string("send: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->eager(true);
}

bool HttpConnection::ReadMore(Clock::time_point deadline) {
  char chunk[kReadChunk];
  ssize_t n = 0;
  for (;;) {
    Wait(POLLIN, deadline);
    n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) Fail(std::string("recv: ") + std::strerror(errno));
    break;
  }
  boost::beast::error_code error;
  if (n == 0) {
    parser_->put_eof(error);
    if (error) Fail("the connection closed in the middle of the response");
    return false;
  }
  unparsed_.append(chunk, static_cast<std::size_t>(n));
  const std::size_t used = parser_->put(boost::asio::buffer(unparsed_), error);
  unparsed_.erase(0, used);
  if (error && error != http::error::need_more) Fail("bad HTTP response: " + error.message());
  return true;
}

void HttpConnection::ReadHeader(Clock::time_point deadline) {
  while (!parser_->is_header_done()) {
    if (!ReadMore(deadline)) Fail("the connection closed before the response header");
  }
  const auto& response = parser_->get();
  if (response.result() != http::status::ok) {
    // Read what there is of the body for the message, within the same deadline.
    while (!parser_->is_done() && response.body().size() < 512 && ReadMore(deadline)) {
    }
    Fail("HTTP " + std::to_string(response.result_int()) + ": " + response.body().substr(0, 512));
  }
}

std::string HttpConnection::ReadResponse(Clock::time_point deadline) {
  parser_->body_limit(kMaxBodyBytes);
  ReadHeader(deadline);
  while (!parser_->is_done()) {
    if (!ReadMore(deadline)) break;
  }
  if (!parser_->is_done()) Fail("the connection closed in the middle of the response");
  return parser_->release().body();
}

std::optional<std::string> HttpConnection::NextLine(Clock::time_point deadline) {
  if (!parser_->is_header_done()) {
    parser_->body_limit(boost::none);  // a stream; each line is bounded below
    ReadHeader(deadline);
  }
  for (;;) {
    std::string& body = parser_->get().body();
    const std::size_t end = body.find('\n');
    if (end != std::string::npos) {
      std::string line = body.substr(0, end);
      body.erase(0, end + 1);
      return line;
    }
    if (body.size() > kMaxBodyBytes) Fail("a streamed response line over 4 MiB");
    if (parser_->is_done()) {
      if (body.empty()) return std::nullopt;
      std::string line = std::move(body);
      body.clear();
      return line;
    }
    if (!ReadMore(deadline)) {
      if (!parser_->is_done()) Fail("the connection closed in the middle of the stream");
    }
  }
}

}  // namespace thriftpool::discovery::internal
