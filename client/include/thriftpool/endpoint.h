// Endpoint: one replica of a service, as "host:port" plus a balancing weight.
#ifndef THRIFTPOOL_ENDPOINT_H_
#define THRIFTPOOL_ENDPOINT_H_

#include <string>
#include <vector>

namespace thriftpool {

struct Endpoint {
  std::string host;
  int port = 0;
  // Relative share of calls under the power-of-two-choices balancer, 1..kMaxEndpointWeight.
  int weight = 1;
};

inline constexpr int kMaxEndpointWeight = 1000;

inline bool operator==(const Endpoint& a, const Endpoint& b) {
  return a.host == b.host && a.port == b.port && a.weight == b.weight;
}
inline bool operator!=(const Endpoint& a, const Endpoint& b) { return !(a == b); }

// "host:port"; an IPv6 host is bracketed ("[::1]:9090").
std::string ToString(const Endpoint& endpoint);

// Throws std::invalid_argument naming the endpoint and what is wrong: an empty host, a port
// outside 1..65535, a weight outside 1..kMaxEndpointWeight.
void ValidateEndpoint(const Endpoint& endpoint);

// Parses "host:port" or "[ipv6]:port" (weight 1). Throws std::invalid_argument naming the text:
// no port ("host"), an empty host (":9090"), a port that is not a number within 1..65535
// ("h:0", "h:99999", "h:x").
Endpoint ParseEndpoint(const std::string& host_port);

// Parses a comma-separated list ("h1:9090,h2:9090"); throws like ParseEndpoint, or for an empty
// list or an empty element.
std::vector<Endpoint> ParseEndpointList(const std::string& text);

}  // namespace thriftpool

#endif  // THRIFTPOOL_ENDPOINT_H_
