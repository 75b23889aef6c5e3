#include "user_service_handler.h"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace thriftpool::example {

UserServiceHandler::UserServiceHandler(std::shared_ptr<UserStore> store,
                                       std::chrono::microseconds get_user_delay)
    : store_(std::move(store)), get_user_delay_(get_user_delay) {}

void UserServiceHandler::getUser(User& user, std::int64_t id) {
  if (get_user_delay_.count() > 0) Pause(get_user_delay_);
  std::optional<User> found = store_->Find(id);
  if (!found) {
    UserNotFound error;
    error.__set_id(id);
    error.__set_message("no user with id " + std::to_string(id));
    throw error;
  }
  user = std::move(*found);
}

std::int64_t UserServiceHandler::createUser(const std::string& name, const std::string& email) {
  return store_->Create(name, email);
}

void UserServiceHandler::sleepMs(std::int32_t ms) {
  if (ms < 0 || ms > kMaxSleepMs) {
    throw std::invalid_argument("sleepMs: ms must be within 0.." + std::to_string(kMaxSleepMs) +
                                " (got " + std::to_string(ms) + ")");
  }
  Pause(std::chrono::milliseconds(ms));
}

void UserServiceHandler::Pause(std::chrono::microseconds duration) {
  std::unique_lock lock(sleep_mu_);
  sleep_cv_.wait_for(lock, duration, [this] { return shut_down_; });
}

void UserServiceHandler::Shutdown() {
  {
    std::lock_guard lock(sleep_mu_);
    shut_down_ = true;
  }
  sleep_cv_.notify_all();
}

}  // namespace thriftpool::example
