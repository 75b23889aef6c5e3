// Scenario 8, garbage peers: a fake server (in the test) answers with random bytes, with a frame
// length of 2 GiB, or with a reply whose string announces 1 GiB. With max_message_size and
// max_frame_size at 1 MiB, each call must end in a transport or protocol exception, promptly,
// without allocating anything near the announced size, and the connection must be discarded.
#include <gtest/gtest.h>
#include <thrift/Thrift.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>

#include <cctype>
#include <cstdint>
#include <exception>
#include <random>
#include <string>

#include "allocation_meter.h"
#include "fake_peers.h"
#include "fault_support.h"

namespace thriftpool::faults {
namespace {

using apache::thrift::protocol::TProtocolException;
using apache::thrift::transport::TTransportException;

constexpr std::int32_t kMaxMessageSize = 1 << 20;
constexpr milliseconds kRecvTimeout(500);

// Wire pieces, written out by hand so that they can lie.
std::string BigEndian32(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

std::string Varint(std::uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

std::string RandomBytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& byte : out) byte = static_cast<char>(random());
  return out;
}

// A getUser reply, binary protocol, whose User.name announces `length` bytes (and brings 3).
// Sequence id 1: the id of a connection's first request, so that the reply's header passes the
// id check and the body is parsed.
std::string BinaryReplyWithNameLength(std::uint32_t length) {
  return BigEndian32(0x80010002) + BigEndian32(7) + "getUser" + BigEndian32(1) +  // header
         std::string("\x0c\x00\x00", 3) +                                         // success: User
         std::string("\x0b\x00\x02", 3) + BigEndian32(length) + "abc";            // name: string
}

// The same in the compact protocol.
std::string CompactReplyWithNameLength(std::uint32_t length) {
  return std::string("\x82\x41\x01", 3) + Varint(7) + "getUser" +  // header: reply, seqid 1
         std::string("\x0c\x00", 2) +                              // success (id 0): User
         std::string("\x28", 1) + Varint(length) + "abc";          // name (id 2): binary
}

std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The two kinds of error after which Call discards the connection.
bool IsTransportOrProtocolError(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const TTransportException&) {
    return true;
  } catch (const TProtocolException&) {
    return true;
  } catch (...) {
    return false;
  }
}

struct GarbageCase {
  const char* name;
  TransportKind transport;
  ProtocolKind protocol;
  std::string reply;
  // Part of the exception's message (lowercase; matched ignoring case), where the limit is the
  // thing that must speak; "" for any.
  const char* message_part;
};

void PrintTo(const GarbageCase& c, std::ostream* out) { *out << c.name; }

class GarbagePeerTest : public ::testing::TestWithParam<GarbageCase> {};

TEST_P(GarbagePeerTest, FailsPromptlyWithinTheSizeLimitsAndDiscards) {
  const GarbageCase& c = GetParam();
  ScriptedPeer peer(c.reply);
  ClientOptions client;
  client.port = peer.port();
  client.transport = c.transport;
  client.protocol = c.protocol;
  client.recv_timeout = kRecvTimeout;
  client.max_message_size = kMaxMessageSize;
  client.max_frame_size = kMaxMessageSize;
  PoolOptions options;
  options.max_cap = 1;
  options.max_idle = 1;
  UserPool pool(client, options);

  ASSERT_TRUE(ResetPeakRss());
  const std::int64_t peak_before_kib = PeakRssKib();
  ResetLargestAllocation();
  std::string failure;
  bool expected_type = false;
  const Stopwatch call;
  try {
    GetUser(pool, 7, CallOptions{});  // not idempotent: one attempt, no retry
  } catch (...) {
    failure = DescribeCurrentException();
    expected_type = IsTransportOrProtocolError(std::current_exception());
  }
  const Millis elapsed = call.Elapsed();
  const std::size_t largest_allocation = LargestAllocation();
  const std::int64_t peak_growth_kib = PeakRssKib() - peak_before_kib;
  ReportFigure(c.name, "'" + failure + "' after " + std::to_string(elapsed.count()) +
                           " ms; largest allocation " + std::to_string(largest_allocation) +
                           " B; peak RSS +" + std::to_string(peak_growth_kib) + " KiB");

  EXPECT_EQ(peer.RepliesSentOnceAtLeast(1, milliseconds(2000)), 1)
      << "the peer never answered: the test proves nothing";
  ASSERT_FALSE(failure.empty()) << "garbage was accepted as an answer";
  EXPECT_TRUE(expected_type) << failure;
  EXPECT_NE(Lowercase(failure).find(c.message_part), std::string::npos) << failure;
  EXPECT_LE(elapsed, Loose(Millis(kRecvTimeout) + Millis(100)));
  EXPECT_LE(largest_allocation, static_cast<std::size_t>(kMaxMessageSize) + 64 * 1024)
      << "allocated beyond max_message_size for a size the peer only announced";
  EXPECT_LE(peak_growth_kib, 8 * 1024);
  const ClientPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.pool.closed_broken, 1u);
  EXPECT_EQ(stats.retries, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllPeers, GarbagePeerTest,
    ::testing::Values(
        GarbageCase{"RandomBytes_BufferedBinary", TransportKind::kBuffered, ProtocolKind::kBinary,
                    RandomBytes(4096, 1), ""},
        GarbageCase{"RandomBytes_BufferedCompact", TransportKind::kBuffered, ProtocolKind::kCompact,
                    RandomBytes(4096, 2), ""},
        GarbageCase{"RandomBytes_FramedBinary", TransportKind::kFramed, ProtocolKind::kBinary,
                    RandomBytes(4096, 3), ""},
        GarbageCase{"FrameLength2GiB_FramedBinary", TransportKind::kFramed, ProtocolKind::kBinary,
                    BigEndian32(0x7fffffff) + RandomBytes(64, 4), "frame"},
        GarbageCase{"StringLength1GiB_BufferedBinary", TransportKind::kBuffered,
                    ProtocolKind::kBinary, BinaryReplyWithNameLength(1u << 30), "size"},
        GarbageCase{"StringLength1GiB_BufferedCompact", TransportKind::kBuffered,
                    ProtocolKind::kCompact, CompactReplyWithNameLength(1u << 30), "size"}),
    [](const ::testing::TestParamInfo<GarbageCase>& info) { return info.param.name; });

}  // namespace
}  // namespace thriftpool::faults
