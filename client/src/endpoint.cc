#include <thriftpool/endpoint.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace thriftpool {
namespace {

[[noreturn]] void Fail(const std::string& text, const std::string& why) {
  throw std::invalid_argument("endpoint '" + text + "' is not HOST:PORT: " + why);
}

}  // namespace

std::string ToString(const Endpoint& endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

void ValidateEndpoint(const Endpoint& endpoint) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument("endpoint '" + ToString(endpoint) + "': " + why);
  };
  if (endpoint.host.empty()) fail("empty host");
  if (endpoint.port < 1 || endpoint.port > 65535) fail("the port must be within 1..65535");
  if (endpoint.weight < 1 || endpoint.weight > kMaxEndpointWeight) {
    fail("the weight must be within 1.." + std::to_string(kMaxEndpointWeight) + " (got " +
         std::to_string(endpoint.weight) + ")");
  }
}

Endpoint ParseEndpoint(const std::string& text) {
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
  return Endpoint{host, static_cast<int>(port), 1};
}

std::vector<Endpoint> ParseEndpointList(const std::string& text) {
  if (text.empty()) throw std::invalid_argument("the endpoint list is empty");
  std::vector<Endpoint> endpoints;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    const std::string item = text.substr(begin, comma - begin);
    if (item.empty()) {
      throw std::invalid_argument("the endpoint list '" + text + "' has an empty element");
    }
    endpoints.push_back(ParseEndpoint(item));
    if (comma == std::string::npos) return endpoints;
    begin = comma + 1;
  }
}

}  // namespace thriftpool
