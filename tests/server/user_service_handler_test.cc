#include "user_service_handler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>

namespace thriftpool::example {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class UserServiceHandlerTest : public ::testing::Test {
 protected:
  UserServiceHandler handler_{std::make_shared<UserStore>(50)};
};

TEST_F(UserServiceHandlerTest, GetUserReturnsTheUser) {
  User user;
  handler_.getUser(user, 7);
  EXPECT_EQ(user.id, 7);
  EXPECT_EQ(user.name, "user-7");
  EXPECT_EQ(user.email, "user-7@example.com");
}

TEST_F(UserServiceHandlerTest, GetUserThrowsUserNotFoundWithTheId) {
  User user;
  try {
    handler_.getUser(user, 51);
    FAIL() << "no UserNotFound";
  } catch (const UserNotFound& e) {
    EXPECT_EQ(e.id, 51);
    EXPECT_NE(e.message.find("51"), std::string::npos) << e.message;
  }
}

TEST_F(UserServiceHandlerTest, CreatedUserCanBeRead) {
  const std::int64_t id = handler_.createUser("carol", "carol@example.com");
  EXPECT_EQ(id, 51);
  User user;
  handler_.getUser(user, id);
  EXPECT_EQ(user.name, "carol");
  EXPECT_EQ(user.email, "carol@example.com");
}

TEST_F(UserServiceHandlerTest, SleepMsSleeps) {
  const auto start = Clock::now();
  handler_.sleepMs(30);
  EXPECT_GE(Clock::now() - start, milliseconds(30));
}

TEST_F(UserServiceHandlerTest, SleepMsRejectsOutOfRange) {
  EXPECT_THROW(handler_.sleepMs(-1), std::invalid_argument);
  EXPECT_THROW(handler_.sleepMs(UserServiceHandler::kMaxSleepMs + 1), std::invalid_argument);
  handler_.sleepMs(0);
}

TEST_F(UserServiceHandlerTest, ShutdownEndsSleepsInProgressAndLater) {
  const auto start = Clock::now();
  auto sleeper = std::async(std::launch::async, [this] { handler_.sleepMs(30000); });
  // Whether or not the sleep has begun, Shutdown must end it.
  handler_.Shutdown();
  ASSERT_EQ(sleeper.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  handler_.sleepMs(30000);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace thriftpool::example
