#include <thriftpool/etcd_endpoint_value.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace thriftpool::discovery {

using nlohmann::json;

std::string ServicePrefix(const std::string& service) {
  if (service.empty()) throw std::invalid_argument("service name: empty");
  for (const char c : service) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw std::invalid_argument("service name '" + service +
                                  "': no '/' or control characters allowed");
    }
  }
  return "/thriftpool/services/" + service + "/";
}

std::string EndpointKey(const std::string& service, const Endpoint& endpoint) {
  ValidateEndpoint(endpoint);
  return ServicePrefix(service) + ToString(endpoint);
}

std::string EndpointValue(const Endpoint& endpoint) {
  ValidateEndpoint(endpoint);
  return json{{"host", endpoint.host}, {"port", endpoint.port}, {"weight", endpoint.weight}}.dump();
}

Endpoint ParseEndpointValue(std::string_view text) {
  const json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    throw std::invalid_argument("endpoint value: not a JSON object");
  }
  Endpoint endpoint;
  const auto host = value.find("host");
  if (host == value.end() || !host->is_string() || host->get_ref<const std::string&>().empty()) {
    throw std::invalid_argument("endpoint value: \"host\" must be a non-empty string");
  }
  endpoint.host = host->get<std::string>();
  const auto port = value.find("port");
  if (port == value.end() || !port->is_number_integer() || port->get<std::int64_t>() < 1 ||
      port->get<std::int64_t>() > 65535) {
    throw std::invalid_argument("endpoint value: \"port\" must be an integer within 1..65535");
  }
  endpoint.port = port->get<int>();
  if (const auto weight = value.find("weight"); weight != value.end()) {
    if (!weight->is_number_integer() || weight->get<std::int64_t>() < 1 ||
        weight->get<std::int64_t>() > kMaxEndpointWeight) {
      throw std::invalid_argument("endpoint value: \"weight\" must be an integer within 1.." +
                                  std::to_string(kMaxEndpointWeight));
    }
    endpoint.weight = weight->get<int>();
  }
  ValidateEndpoint(endpoint);
  return endpoint;
}

}  // namespace thriftpool::discovery
