#include <gtest/gtest.h>
#include <thriftpool/endpoint.h>

#include <stdexcept>
#include <string>

namespace thriftpool {
namespace {

TEST(EndpointTest, ParsesHostAndPort) {
  const Endpoint endpoint = ParseEndpoint("127.0.0.1:9090");
  EXPECT_EQ(endpoint.host, "127.0.0.1");
  EXPECT_EQ(endpoint.port, 9090);
  EXPECT_EQ(endpoint.weight, 1);
  EXPECT_EQ(ToString(endpoint), "127.0.0.1:9090");
}

TEST(EndpointTest, ParsesBracketedIpv6) {
  const Endpoint endpoint = ParseEndpoint("[::1]:65535");
  EXPECT_EQ(endpoint.host, "::1");
  EXPECT_EQ(endpoint.port, 65535);
  EXPECT_EQ(ToString(endpoint), "[::1]:65535");
}

TEST(EndpointTest, RejectsWhatIsNotHostColonPortNamingIt) {
  for (const char* bad : {"", "host", ":9090", "host:", "h:0", "h:99999", "host:-1", "host:12ab",
                          "::1:9090", "host:99999999999999999999"}) {
    try {
      ParseEndpoint(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(EndpointTest, ParsesAList) {
  const std::vector<Endpoint> endpoints = ParseEndpointList("a:1,b:2,[::1]:3");
  ASSERT_EQ(endpoints.size(), 3u);
  EXPECT_EQ(ToString(endpoints[0]), "a:1");
  EXPECT_EQ(ToString(endpoints[1]), "b:2");
  EXPECT_EQ(ToString(endpoints[2]), "[::1]:3");
  for (const char* bad : {"", "a:1,", ",a:1", "a:1,,b:2", "a:1,b"}) {
    EXPECT_THROW(ParseEndpointList(bad), std::invalid_argument) << bad;
  }
}

TEST(EndpointTest, ValidationNamesTheEndpointAndTheField) {
  const auto message = [](const Endpoint& endpoint) -> std::string {
    try {
      ValidateEndpoint(endpoint);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message(Endpoint{"h", 1, 1}), "");
  EXPECT_EQ(message(Endpoint{"h", 65535, kMaxEndpointWeight}), "");
  EXPECT_NE(message(Endpoint{"", 9090, 1}).find("empty host"), std::string::npos);
  EXPECT_NE(message(Endpoint{"h", 0, 1}).find("'h:0'"), std::string::npos);
  EXPECT_NE(message(Endpoint{"h", 65536, 1}).find("port"), std::string::npos);
  EXPECT_NE(message(Endpoint{"h", 1, 0}).find("weight"), std::string::npos);
  EXPECT_NE(message(Endpoint{"h", 1, kMaxEndpointWeight + 1}).find("weight"), std::string::npos);
}

}  // namespace
}  // namespace thriftpool
