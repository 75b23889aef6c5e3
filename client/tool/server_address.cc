#include "server_address.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace thriftpool::tool {
namespace {

[[noreturn]] void Fail(const std::string& text, const std::string& why) {
  throw std::invalid_argument("'" + text + "' is not HOST:PORT: " + why);
}

}  // namespace

ServerAddress ParseServerAddress(const std::string& text) {
  // The last colon splits, so that an IPv6 host works once bracketed ("[::1]:9090").
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) Fail(text, "no ':'");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    Fail(text, "an IPv6 host needs brackets, e.g. [::1]:9090");
  }
  if (host.empty()) Fail(text, "empty host");
  if (port_text.empty() || port_text.find_first_not_of("0123456789") != std::string::npos) {
    Fail(text, "the port must be a number");
  }
  errno = 0;
  const long port = std::strtol(port_text.c_str(), nullptr, 10);
  if (errno == ERANGE || port < 1 || port > 65535) Fail(text, "the port must be within 1..65535");
  return ServerAddress{host, static_cast<int>(port)};
}

std::string ToString(const ServerAddress& address) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace thriftpool::tool
