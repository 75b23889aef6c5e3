// ServerAddress: the HOST:PORT that --server names.
#ifndef THRIFTPOOL_CLIENT_TOOL_SERVER_ADDRESS_H_
#define THRIFTPOOL_CLIENT_TOOL_SERVER_ADDRESS_H_

#include <string>

namespace thriftpool::tool {

struct ServerAddress {
  std::string host;
  int port = 0;
};

// Parses "HOST:PORT" or "[IPV6]:PORT", port 1..65535. Throws std::invalid_argument saying what is
// wrong with `text` (without naming a flag: the caller knows which one it came from).
ServerAddress ParseServerAddress(const std::string& text);
// "HOST:PORT", with brackets around an IPv6 host.
std::string ToString(const ServerAddress& address);

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_SERVER_ADDRESS_H_
