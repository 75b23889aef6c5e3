// ServerInfoHandler: the ServerInfo calls, served next to UserService when multiplexed.
#ifndef THRIFTPOOL_SERVER_SRC_SERVER_INFO_HANDLER_H_
#define THRIFTPOOL_SERVER_SRC_SERVER_INFO_HANDLER_H_

#include <chrono>
#include <cstdint>
#include <memory>

#include "ServerInfo.h"
#include "user_store.h"

namespace thriftpool::example {

// Thread-safe.
class ServerInfoHandler : public ServerInfoIf {
 public:
  explicit ServerInfoHandler(std::shared_ptr<const UserStore> store);

  std::int64_t userCount() override;
  std::int64_t uptimeMs() override;

 private:
  const std::shared_ptr<const UserStore> store_;
  const std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
};

}  // namespace thriftpool::example

#endif  // THRIFTPOOL_SERVER_SRC_SERVER_INFO_HANDLER_H_
