#include <gtest/gtest.h>
#include <thriftpool/client_options.h>

#include <stdexcept>
#include <string>

namespace thriftpool {
namespace {

// Expects ValidateClientOptions to reject `options` with a message naming `field`.
void ExpectRejected(const ClientOptions& options, const std::string& field) {
  try {
    ValidateClientOptions(options);
    FAIL() << "accepted bad " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(ClientOptions, DefaultsAreValidAndFinite) {
  ClientOptions options;
  EXPECT_NO_THROW(ValidateClientOptions(options));
  EXPECT_GT(options.connect_timeout.count(), 0);
  EXPECT_GT(options.recv_timeout.count(), 0);
  EXPECT_GT(options.send_timeout.count(), 0);
  EXPECT_EQ(options.retry.max_retries, 2);
}

TEST(ClientOptions, RejectsEachBadFieldByName) {
  ClientOptions o;
  o.host = "";
  ExpectRejected(o, "host");
  o = {};
  o.port = 0;
  ExpectRejected(o, "port");
  o.port = 65536;
  ExpectRejected(o, "port");
  o = {};
  o.connect_timeout = std::chrono::milliseconds(-1);
  ExpectRejected(o, "connect_timeout");
  o = {};
  o.recv_timeout = std::chrono::milliseconds(-1);
  ExpectRejected(o, "recv_timeout");
  o = {};
  o.send_timeout = std::chrono::milliseconds(-1);
  ExpectRejected(o, "send_timeout");
  o = {};
  o.max_message_size = 10;
  ExpectRejected(o, "max_message_size");
  o = {};
  o.max_frame_size = o.max_message_size + 1;
  ExpectRejected(o, "max_frame_size");
  o = {};
  o.retry.max_retries = -1;
  ExpectRejected(o, "retry.max_retries");
  o = {};
  o.retry.budget_ratio = -0.5;
  ExpectRejected(o, "retry.budget_ratio");
  o = {};
  o.retry.budget_min_per_second = -1;
  ExpectRejected(o, "retry.budget_min_per_second");
  o = {};
  o.retry.budget_window = std::chrono::seconds(0);
  ExpectRejected(o, "retry.budget_window");
  o = {};
  o.multiplexed_service = "User:Service";
  ExpectRejected(o, "multiplexed_service");
}

TEST(ClientOptions, KindsRoundTripThroughText) {
  for (TransportKind kind : {TransportKind::kBuffered, TransportKind::kFramed}) {
    EXPECT_EQ(ParseTransportKind(ToString(kind)), kind);
  }
  for (ProtocolKind kind : {ProtocolKind::kBinary, ProtocolKind::kCompact}) {
    EXPECT_EQ(ParseProtocolKind(ToString(kind)), kind);
  }
}

TEST(ClientOptions, UnknownKindsNameTheValueAndTheChoices) {
  try {
    ParseTransportKind("http");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'http'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("framed"), std::string::npos);
  }
  EXPECT_THROW(ParseProtocolKind("json"), std::invalid_argument);
}

}  // namespace
}  // namespace thriftpool
