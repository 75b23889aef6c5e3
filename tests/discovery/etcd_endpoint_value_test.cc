// The key layout and the endpoint value, and EtcdOptions' validation: every bad input refused by
// a message naming it.
#include <gtest/gtest.h>
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/etcd_options.h>

#include <stdexcept>
#include <string>

#include "expect_refused.h"

namespace thriftpool::discovery {
namespace {

using testing_support::ExpectRefused;

TEST(EtcdEndpointValueTest, KeysAndValuesRoundTrip) {
  EXPECT_EQ(ServicePrefix("users"), "/thriftpool/services/users/");
  const Endpoint endpoint{"127.0.0.1", 9090, 3};
  EXPECT_EQ(EndpointKey("users", endpoint), "/thriftpool/services/users/127.0.0.1:9090");
  EXPECT_EQ(ParseEndpointValue(EndpointValue(endpoint)), endpoint);
  EXPECT_EQ(ParseEndpointValue(R"({"host":"::1","port":1,"zone":"a"})"), (Endpoint{"::1", 1, 1}));
  EXPECT_EQ(EndpointKey("users", {"::1", 80, 1}), "/thriftpool/services/users/[::1]:80");
}

TEST(EtcdEndpointValueTest, RefusesBadServiceNames) {
  ExpectRefused([] { ServicePrefix(""); }, "empty");
  ExpectRefused([] { ServicePrefix("a/b"); }, "'a/b'");
  ExpectRefused([] { ServicePrefix("a\nb"); }, "control characters");
  ExpectRefused([] { EndpointKey("users", {"", 1, 1}); }, "host");
}

TEST(EtcdEndpointValueTest, RefusesEveryMalformedValueSayingWhat) {
  ExpectRefused([] { ParseEndpointValue(""); }, "not a JSON object");
  ExpectRefused([] { ParseEndpointValue("127.0.0.1:9090"); }, "not a JSON object");
  ExpectRefused([] { ParseEndpointValue("[]"); }, "not a JSON object");
  ExpectRefused([] { ParseEndpointValue(R"({"port":9090})"); }, "\"host\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"","port":9090})"); }, "\"host\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":7,"port":9090})"); }, "\"host\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h"})"); }, "\"port\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":"9090"})"); }, "\"port\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":0})"); }, "\"port\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":65536})"); }, "\"port\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":90.5})"); }, "\"port\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":1,"weight":0})"); }, "\"weight\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":1,"weight":1001})"); }, "\"weight\"");
  ExpectRefused([] { ParseEndpointValue(R"({"host":"h","port":1,"weight":"2"})"); }, "\"weight\"");
}

TEST(EtcdOptionsTest, RefusesBadUrlsAndTimeoutsNamingThem) {
  ValidateEtcdUrl("http://127.0.0.1:2379");
  ValidateEtcdUrl("http://localhost:2379/");
  ValidateEtcdUrl("http://[::1]:2379");
  ExpectRefused([] { ValidateEtcdUrl("https://127.0.0.1:2379"); }, "'https://127.0.0.1:2379'");
  ExpectRefused([] { ValidateEtcdUrl("127.0.0.1:2379"); }, "http://");
  ExpectRefused([] { ValidateEtcdUrl("http://127.0.0.1"); }, "no port");
  ExpectRefused([] { ValidateEtcdUrl("http://:2379"); }, "empty host");
  ExpectRefused([] { ValidateEtcdUrl("http://h:0"); }, "1..65535");
  ExpectRefused([] { ValidateEtcdUrl("http://h:99999"); }, "1..65535");
  ExpectRefused([] { ValidateEtcdUrl("http://h:2379/v3"); }, "no path");
  ExpectRefused([] { ValidateEtcdUrl("http://[::1:2379"); }, "']:PORT'");
  EtcdOptions options;
  options.request_timeout = std::chrono::milliseconds(0);
  ExpectRefused([&] { ValidateEtcdOptions(options); }, "request_timeout");
  options.request_timeout = std::chrono::hours(2);
  ExpectRefused([&] { ValidateEtcdOptions(options); }, "request_timeout");
}

}  // namespace
}  // namespace thriftpool::discovery
