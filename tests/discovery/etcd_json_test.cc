// The gateway's JSON: requests as etcd expects them, and responses (captured from etcd 3.4)
// parsed, with every malformed kind refused by a message that says what is wrong.
#include <gtest/gtest.h>
#include <thriftpool/internal/etcd_json.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "expect_refused.h"

namespace thriftpool::discovery::internal {
namespace {

using nlohmann::json;

using testing_support::ExpectRefused;

TEST(EtcdJsonTest, Base64RoundTripsEveryLengthAndRefusesGarbage) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(Base64Decode(Base64Encode(bytes)), bytes) << i;
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(Base64Encode("/thriftpool/"), "L3RocmlmdHBvb2wv");
  ExpectRefused([] { Base64Decode("abc"); }, "multiple of 4");
  ExpectRefused([] { Base64Decode("ab!d"); }, "not base64");
  ExpectRefused([] { Base64Decode("a=bc"); }, "'=' inside");
  ExpectRefused([] { Base64Decode("===="); }, "'=' inside");
}

TEST(EtcdJsonTest, PrefixEndIsTheFirstKeyAfterThePrefix) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd("\xff\xff"), std::string(1, '\0'));
  ExpectRefused([] { PrefixEnd(""); }, "empty");
}

TEST(EtcdJsonTest, RequestsCarryBase64KeysAndDecimalStrings) {
  const json watch = json::parse(WatchRequest("/a/", 42));
  EXPECT_EQ(watch["create_request"]["key"], Base64Encode("/a/"));
  EXPECT_EQ(watch["create_request"]["range_end"], Base64Encode("/a0"));
  EXPECT_EQ(watch["create_request"]["start_revision"], "42");
  const json put = json::parse(PutRequest("k", "v", 7));
  EXPECT_EQ(put["lease"], "7");
  EXPECT_EQ(json::parse(LeaseGrantRequest(10))["TTL"], "10");
  EXPECT_EQ(json::parse(LeaseIdRequest(5))["ID"], "5");
}

// Captured from etcd 3.4.23.
constexpr char kRange[] =
    R"({"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},)"
    R"("kvs":[{"key":"L3RocmlmdHBvb2wvc2VydmljZXMvdXNlcnMvMTI3LjAuMC4xOjkwOTA=",)"
    R"("create_revision":"2","mod_revision":"2","version":"1",)"
    R"("value":"eyJob3N0IjoiMTI3LjAuMC4xIiwicG9ydCI6OTA5MH0="}],"count":"1"})";
constexpr char kPutEvent[] =
    R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L2E=",)"
    R"("create_revision":"3","mod_revision":"3","version":"1","value":"eA=="}}]}})";
constexpr char kDeleteEvent[] =
    R"({"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"L2E=",)"
    R"("mod_revision":"4"}}]}})";
constexpr char kCompacted[] =
    R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"4"}})";

TEST(EtcdJsonTest, ParsesWhatEtcdSends) {
  const RangeResponse range = ParseRangeResponse(kRange);
  EXPECT_EQ(range.revision, 2);
  ASSERT_EQ(range.kvs.size(), 1u);
  EXPECT_EQ(range.kvs[0].key, "/thriftpool/services/users/127.0.0.1:9090");
  EXPECT_EQ(range.kvs[0].value, R"({"host":"127.0.0.1","port":9090})");
  EXPECT_EQ(range.kvs[0].mod_revision, 2);
  EXPECT_TRUE(ParseRangeResponse(R"({"header":{"revision":"9"}})").kvs.empty());

  const WatchResponse put = ParseWatchResponse(kPutEvent);
  ASSERT_EQ(put.events.size(), 1u);
  EXPECT_FALSE(put.events[0].deleted);
  EXPECT_EQ(put.events[0].kv.value, "x");
  EXPECT_EQ(put.revision, 3);
  const WatchResponse del = ParseWatchResponse(kDeleteEvent);
  ASSERT_EQ(del.events.size(), 1u);
  EXPECT_TRUE(del.events[0].deleted);
  EXPECT_EQ(del.events[0].kv.key, "/a");
  const WatchResponse compacted = ParseWatchResponse(kCompacted);
  EXPECT_TRUE(compacted.canceled);
  EXPECT_EQ(compacted.compact_revision, 4);
  EXPECT_TRUE(
      ParseWatchResponse(R"({"result":{"header":{"revision":"2"},"created":true}})").created);

  EXPECT_EQ(ParseLeaseGrantResponse(R"({"header":{},"ID":"4111120417353567238","TTL":"5"})"),
            4111120417353567238);
  EXPECT_EQ(ParseKeepAliveResponse(R"({"result":{"ID":"1","TTL":"10"}})"), 10);
  // A lease etcd no longer has: the TTL is left out.
  EXPECT_EQ(ParseKeepAliveResponse(R"({"result":{"header":{},"ID":"123"}})"), 0);
}

TEST(EtcdJsonTest, RefusesMalformedResponsesSayingWhy) {
  ExpectRefused([] { ParseRangeResponse("not json"); }, "not JSON");
  ExpectRefused([] { ParseRangeResponse("[1]"); }, "not a JSON object");
  ExpectRefused([] { ParseRangeResponse(R"({"kvs":[]})"); }, "without a revision");
  ExpectRefused([] { ParseRangeResponse(R"({"header":{"revision":"x"}})"); }, "not an integer");
  ExpectRefused([] { ParseRangeResponse(R"({"header":{"revision":"1"},"kvs":{}})"); },
                "'kvs' is not an array");
  ExpectRefused([] { ParseRangeResponse(R"({"header":{"revision":"1"},"kvs":[{"key":"%%%%"}]})"); },
                "not base64");
  ExpectRefused(
      [] { ParseRangeResponse(R"({"header":{"revision":"1"},"kvs":[{"value":"eA=="}]})"); },
      "no key");
  ExpectRefused(
      [] { ParseWatchResponse(R"({"result":{"events":[{"type":"MOVE","kv":{"key":"eA=="}}]}})"); },
      "type 'MOVE'");
  ExpectRefused([] { ParseWatchResponse(R"({"result":{"canceled":"yes"}})"); }, "not a boolean");
  ExpectRefused(
      [] {
        ParseKeepAliveResponse(
            R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})");
      },
      "etcd error: etcdserver: requested lease not found");
  ExpectRefused([] { ParseLeaseGrantResponse(R"({"TTL":"5"})"); }, "without an ID");
}

}  // namespace
}  // namespace thriftpool::discovery::internal
