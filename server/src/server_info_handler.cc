#include "server_info_handler.h"

#include <utility>

namespace thriftpool::example {

ServerInfoHandler::ServerInfoHandler(std::shared_ptr<const UserStore> store)
    : store_(std::move(store)) {}

std::int64_t ServerInfoHandler::userCount() { return store_->size(); }

std::int64_t ServerInfoHandler::uptimeMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               created_)
      .count();
}

}  // namespace thriftpool::example
