// UserServiceHandler: the UserService calls, on top of a UserStore.
#ifndef THRIFTPOOL_SERVER_SRC_USER_SERVICE_HANDLER_H_
#define THRIFTPOOL_SERVER_SRC_USER_SERVICE_HANDLER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "UserService.h"
#include "user_store.h"

namespace thriftpool::example {

// One handler serves every connection of a running server. Thread-safe.
class UserServiceHandler : public UserServiceIf {
 public:
  // The longest sleepMs accepted.
  static constexpr std::int32_t kMaxSleepMs = 60000;

  // `get_user_delay`: how long each getUser waits before it answers (a slow replica).
  explicit UserServiceHandler(std::shared_ptr<UserStore> store,
                              std::chrono::microseconds get_user_delay = {});

  // Throws UserNotFound (a declared exception: the client gets it as such) for an unknown id.
  void getUser(User& user, std::int64_t id) override;
  std::int64_t createUser(const std::string& name, const std::string& email) override;
  void ping() override {}
  // Sleeps ms milliseconds, or until Shutdown. Throws std::invalid_argument for ms outside
  // 0..kMaxSleepMs, which the client receives as a TApplicationException.
  void sleepMs(std::int32_t ms) override;

  // Ends the sleepMs calls in progress and makes later ones return at once, so that stopping a
  // server never waits out a sleep.
  void Shutdown();

 private:
  // Waits `duration`, or until Shutdown.
  void Pause(std::chrono::microseconds duration);

  const std::shared_ptr<UserStore> store_;
  const std::chrono::microseconds get_user_delay_;
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  bool shut_down_ = false;  // guarded by sleep_mu_
};

}  // namespace thriftpool::example

#endif  // THRIFTPOOL_SERVER_SRC_USER_SERVICE_HANDLER_H_
