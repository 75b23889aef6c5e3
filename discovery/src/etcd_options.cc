#include <thriftpool/etcd_options.h>

#include "etcd_url.h"

namespace thriftpool::discovery {
namespace internal {

EtcdUrl ParseEtcdUrl(const std::string& url) {
  const auto bad = [&url](const std::string& why) {
    return std::invalid_argument("etcd URL '" + url + "': " + why);
  };
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) throw bad("must start with http://");
  std::string rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) throw bad("no path allowed");
  EtcdUrl parsed;
  parsed.text = url;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      throw bad("a bracketed IPv6 host needs ']:PORT'");
    }
    parsed.host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string::npos) throw bad("no port (http://HOST:PORT)");
    parsed.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (parsed.host.empty()) throw bad("empty host");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
      std::stoi(port) > 65535) {
    throw bad("the port must be a number within 1..65535");
  }
  parsed.port = std::stoi(port);
  return parsed;
}

}  // namespace internal

void ValidateEtcdUrl(const std::string& url) { internal::ParseEtcdUrl(url); }

void ValidateEtcdOptions(const EtcdOptions& options) {
  ValidateEtcdUrl(options.url);
  if (options.request_timeout < std::chrono::milliseconds(1) ||
      options.request_timeout > std::chrono::hours(1)) {
    throw std::invalid_argument("EtcdOptions.request_timeout must be within 1 ms .. 1 h (got " +
                                std::to_string(options.request_timeout.count()) + " ms)");
  }
}

}  // namespace thriftpool::discovery
