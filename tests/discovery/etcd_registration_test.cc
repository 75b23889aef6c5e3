// EtcdRegistration against a real etcd: the key under a live lease while it lives, gone when it
// is destroyed, back after etcd lost the lease; an unreachable or stalled etcd is an EtcdError
// naming the URL within the request timeout, never a hang.
#include <gtest/gtest.h>
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/etcd_registration.h>

#include <chrono>
#include <string>
#include <thread>

#include "etcd_process.h"
#include "support/silent_listener.h"
#include "support/wait_for.h"

namespace thriftpool::discovery {
namespace {

using std::chrono::milliseconds;
using testing_support::EtcdProcess;
using testing_support::WaitFor;
using Clock = std::chrono::steady_clock;

EtcdRegistration::Options Registering(const std::string& url, int ttl_seconds = 3) {
  EtcdRegistration::Options options;
  options.etcd.url = url;
  options.etcd.request_timeout = milliseconds(500);
  options.service = "users";
  options.endpoint = {"127.0.0.1", 9090, 2};
  options.ttl = std::chrono::seconds(ttl_seconds);
  return options;
}

std::int64_t RemainingTtl(const EtcdProcess& etcd, std::int64_t lease) {
  const nlohmann::json answer = etcd.Post("/v3/lease/timetolive", {{"ID", std::to_string(lease)}});
  return std::stoll(answer.value("TTL", "-1"));
}

class EtcdRegistrationTest : public ::testing::Test {
 protected:
  EtcdRegistrationTest() { etcd_.Start(); }
  EtcdProcess etcd_;
};

TEST_F(EtcdRegistrationTest, TheKeyLivesUnderAKeptAliveLeaseAndGoesWithTheObject) {
  const std::string key = "/thriftpool/services/users/127.0.0.1:9090";
  std::int64_t lease = 0;
  {
    EtcdRegistration registration(Registering(etcd_.url(), 3));
    EXPECT_EQ(registration.key(), key);
    EXPECT_TRUE(registration.registered());
    const EtcdProcess::Entry entry = etcd_.Get(key);
    ASSERT_TRUE(entry.found);
    EXPECT_EQ(ParseEndpointValue(entry.value), (Endpoint{"127.0.0.1", 9090, 2}));
    lease = entry.lease;
    EXPECT_NE(lease, 0);
    // Three TTLs later the lease still has most of its TTL: it is renewed every second.
    std::this_thread::sleep_for(milliseconds(3500));
    EXPECT_TRUE(etcd_.Get(key).found);
    EXPECT_GE(RemainingTtl(etcd_, lease), 1);
  }
  EXPECT_FALSE(etcd_.Get(key).found) << "deleted by the destructor";
  EXPECT_EQ(RemainingTtl(etcd_, lease), -1) << "and the lease revoked";
}

TEST_F(EtcdRegistrationTest, ALostLeaseIsReplacedAndTheKeyComesBack) {
  EtcdRegistration registration(Registering(etcd_.url(), 3));
  const std::string key = registration.key();
  const std::int64_t lease = etcd_.Get(key).lease;
  etcd_.Post("/v3/lease/revoke", {{"ID", std::to_string(lease)}});  // the key goes with it
  EXPECT_FALSE(etcd_.Get(key).found);
  EXPECT_TRUE(WaitFor([&] { return etcd_.Get(key).found; }, milliseconds(3000)))
      << "back within ttl/3 and a request";
  EXPECT_NE(etcd_.Get(key).lease, lease);
  EXPECT_TRUE(registration.registered());
}

TEST_F(EtcdRegistrationTest, SurvivesAnEtcdRestart) {
  EtcdRegistration registration(Registering(etcd_.url(), 3));
  const std::string key = registration.key();
  etcd_.Kill();
  EXPECT_TRUE(WaitFor([&] { return !registration.registered(); }, milliseconds(3000)));
  std::this_thread::sleep_for(milliseconds(3500));  // longer than the TTL
  etcd_.Restart();
  EXPECT_TRUE(WaitFor([&] { return registration.registered() && etcd_.Get(key).found; },
                      milliseconds(8000)));
}

TEST(EtcdRegistrationEdgeTest, UnreachableOrStalledEtcdIsAnErrorNamingTheUrlInTime) {
  testing_support::SilentListener silent;
  for (const std::string& url : {silent.url(), std::string("http://127.0.0.1:1")}) {
    const auto start = Clock::now();
    try {
      EtcdRegistration registration(Registering(url));
      ADD_FAILURE() << "registered at " << url;
    } catch (const EtcdError& e) {
      EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
    }
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(3)) << url;
  }
}

TEST(EtcdRegistrationEdgeTest, RefusesBadOptionsNamingThem) {
  const auto refused = [](EtcdRegistration::Options options, const std::string& part) {
    try {
      EtcdRegistration registration(std::move(options));
      ADD_FAILURE() << "accepted; expected " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  EtcdRegistration::Options options = Registering("http://127.0.0.1:1");
  options.ttl = std::chrono::seconds(0);
  refused(options, "ttl");
  options = Registering("http://127.0.0.1:1");
  options.endpoint.port = 0;
  refused(options, "port");
  options = Registering("http://127.0.0.1:1");
  options.service = "a/b";
  refused(options, "'a/b'");
}

}  // namespace
}  // namespace thriftpool::discovery
