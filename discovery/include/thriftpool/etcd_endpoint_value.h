// The etcd key layout of a service's endpoints: one key per replica,
// "/thriftpool/services/<service>/<host:port>", whose value is JSON
// {"host":"127.0.0.1","port":9090,"weight":1} ("weight" optional, default 1).
#ifndef THRIFTPOOL_ETCD_ENDPOINT_VALUE_H_
#define THRIFTPOOL_ETCD_ENDPOINT_VALUE_H_

#include <thriftpool/endpoint.h>

#include <string>
#include <string_view>

namespace thriftpool::discovery {

// "/thriftpool/services/<service>/". Throws std::invalid_argument naming the service if it is
// empty or contains '/' or a control character.
std::string ServicePrefix(const std::string& service);

// ServicePrefix(service) + ToString(endpoint). Throws like ServicePrefix and ValidateEndpoint.
std::string EndpointKey(const std::string& service, const Endpoint& endpoint);

// The JSON value for `endpoint`. Throws std::invalid_argument (ValidateEndpoint).
std::string EndpointValue(const Endpoint& endpoint);

// Parses a value. Throws std::invalid_argument saying what is wrong: not a JSON object, "host"
// missing or not a non-empty string, "port" missing or not an integer within 1..65535, "weight"
// not an integer within 1..kMaxEndpointWeight. Other members are ignored.
Endpoint ParseEndpointValue(std::string_view json);

}  // namespace thriftpool::discovery

#endif  // THRIFTPOOL_ETCD_ENDPOINT_VALUE_H_
