#include "http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace thriftpool::metrics_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string Trim(const std::string& text) {
  const std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_case_name) const {
  const auto it = headers.find(lower_case_name);
  return it == headers.end() ? "" : it->second;
}

HttpConnection::HttpConnection(int port, const std::string& host) {
  const bool v6 = host.find(':') != std::string::npos;
  fd_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  int result = -1;
  if (v6) {
    sockaddr_in6 address = {};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, host.c_str(), &address.sin6_addr);
    result = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  } else {
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    result = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
  if (result != 0) {
    close(fd_);
    fd_ = -1;
  }
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) close(fd_);
}

bool HttpConnection::Send(std::string_view bytes) {
  while (fd_ >= 0 && !bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return fd_ >= 0;
}

bool HttpConnection::ReadMore(Clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  pollfd p = {fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
  char chunk[4096];
  const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<HttpResponse> HttpConnection::ReadResponse(std::chrono::milliseconds timeout,
                                                         bool head) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(deadline)) return std::nullopt;
  }
  HttpResponse response;
  std::istringstream lines(buffer_.substr(0, header_end));
  std::string line;
  std::getline(lines, line);
  if (std::sscanf(line.c_str(), "HTTP/1.%*d %d", &response.status) != 1) return std::nullopt;
  response.version = line.substr(0, line.find(' '));
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    response.headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  }
  buffer_.erase(0, header_end + 4);
  const std::string length = response.Header("content-length");
  if (head) {
    // No body follows.
  } else if (!length.empty()) {
    const std::size_t size = std::stoul(length);
    while (buffer_.size() < size) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    response.body = buffer_.substr(0, size);
    buffer_.erase(0, size);
  } else {
    while (ReadMore(deadline)) {
    }
    if (!eof_) return std::nullopt;
    response.body = std::move(buffer_);
    buffer_.clear();
  }
  return response;
}

bool HttpConnection::ClosedWithin(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!eof_ && Clock::now() < deadline) {
    ReadMore(deadline);
    buffer_.clear();
  }
  return eof_;
}

std::optional<HttpResponse> HttpGet(int port, const std::string& target,
                                    std::chrono::milliseconds timeout, const std::string& host) {
  HttpConnection connection(port, host);
  const std::string host_header = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!connection.Send("GET " + target + " HTTP/1.0\r\nHost: " + host_header + ":" +
                       std::to_string(port) + "\r\n\r\n")) {
    return std::nullopt;
  }
  return connection.ReadResponse(timeout);
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

}  // namespace thriftpool::metrics_test
