#include <gtest/gtest.h>
#include <thriftpool/user_server.h>

#include <stdexcept>
#include <string>

namespace thriftpool::example {
namespace {

// The message of the std::invalid_argument that validation throws, or "" if none.
std::string ValidationError(const UserServerOptions& options) {
  try {
    ValidateUserServerOptions(options);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

TEST(UserServerOptionsTest, DefaultsAreValid) { EXPECT_EQ(ValidationError({}), ""); }

TEST(UserServerOptionsTest, EachBadFieldIsNamed) {
  struct Case {
    const char* field;
    void (*spoil)(UserServerOptions&);
  };
  const Case cases[] = {
      {"host", [](UserServerOptions& o) { o.host.clear(); }},
      {"port", [](UserServerOptions& o) { o.port = -1; }},
      {"port", [](UserServerOptions& o) { o.port = 65536; }},
      {"users", [](UserServerOptions& o) { o.users = -1; }},
      {"idle_timeout",
       [](UserServerOptions& o) { o.idle_timeout = std::chrono::milliseconds(-1); }},
      {"idle_timeout",
       [](UserServerOptions& o) { o.idle_timeout = std::chrono::hours(24 * 365 * 100); }},
      {"get_user_delay",
       [](UserServerOptions& o) { o.get_user_delay = std::chrono::milliseconds(-1); }},
      {"get_user_delay",
       [](UserServerOptions& o) { o.get_user_delay = std::chrono::milliseconds(60001); }},
      {"get_user_delay",
       [](UserServerOptions& o) { o.get_user_delay = std::chrono::microseconds::max(); }},
  };
  for (const Case& c : cases) {
    UserServerOptions options;
    c.spoil(options);
    EXPECT_NE(ValidationError(options).find(std::string("UserServerOptions.") + c.field),
              std::string::npos)
        << c.field << ": " << ValidationError(options);
    EXPECT_THROW(UserServer{options}, std::invalid_argument) << c.field;
  }
}

TEST(UserServerOptionsTest, LimitsAreAccepted) {
  UserServerOptions options;
  options.port = 65535;
  options.users = 0;
  options.idle_timeout = std::chrono::milliseconds(1);
  EXPECT_EQ(ValidationError(options), "");
}

TEST(UserServerOptionsTest, NotStartedServerHasNoPortNorConnections) {
  UserServer server(UserServerOptions{});
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.host(), "127.0.0.1");
  EXPECT_EQ(server.connection_count(), 0u);
  EXPECT_EQ(server.calls(), 0u);
  server.Stop();  // stopping a server that never started is a no-op
}

}  // namespace
}  // namespace thriftpool::example
