// Scenario 6: a reply that arrives after the receive timeout. The late reply stays in the socket,
// and a client that reuses the connection reads it as the answer to its next call (THRIFT_NOTES:
// the generated client never checks seqids). The pool must discard the connection; the control
// runs reuse one raw connection the same way, to show that the checks below do catch the bug.
// With sequence-id checking (ClientOptions::check_sequence_ids, on by default) the pool needs no
// take-out probe for this, and even a reused raw connection rejects the late reply.
//
// Two ways to make a reply late: sleepMs(500) against a 100 ms receive timeout, and getUser
// through a relay that holds the server's answers back for 300 ms (a congested link). Both
// paths (pool, raw) go through the relay, with no lag unless a test sets one.
#include <gtest/gtest.h>
#include <thrift/Thrift.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/user_server.h>

#include <functional>
#include <memory>
#include <string>

#include "fault_support.h"
#include "support/relay.h"

namespace thriftpool::faults {
namespace {

using apache::thrift::protocol::TProtocolException;
using apache::thrift::transport::TTransportException;
using example::UserServiceClient;

constexpr milliseconds kRecvTimeout(100);
constexpr int kCheckedCalls = 1000;

enum class LateReply { kSleepMs, kLaggedGetUser };
enum class Path {
  kPool,
  kPoolWithoutProbe,     // ClientOptions::take_out_probe off: the id check and the discard remain
  kRawReusedConnection,  // the control: sequence ids unchecked
  kRawReusedConnectionIdChecked,  // reused like the control, but with the id check
};

bool UsesPool(Path path) { return path == Path::kPool || path == Path::kPoolWithoutProbe; }

const char* PathName(Path path) {
  switch (path) {
    case Path::kPool:
      return "Pool";
    case Path::kPoolWithoutProbe:
      return "PoolWithoutProbe";
    case Path::kRawReusedConnection:
      return "RawReusedConnection";
    case Path::kRawReusedConnectionIdChecked:
      return "RawReusedConnectionIdChecked";
  }
  return "?";
}

struct SlowCallCase {
  LateReply late_reply;
  Path path;
};

void PrintTo(const SlowCallCase& c, std::ostream* out) {
  *out << (c.late_reply == LateReply::kSleepMs ? "sleepMs(500)" : "getUser behind a 300 ms lag")
       << " via " << PathName(c.path);
}

std::string CaseName(const ::testing::TestParamInfo<SlowCallCase>& info) {
  return std::string(info.param.late_reply == LateReply::kSleepMs ? "SleepMs" : "LaggedGetUser") +
         "_" + PathName(info.param.path);
}

// Runs one call on whichever client the path uses.
using Runner = std::function<void(const std::function<void(UserServiceClient&)>&)>;

class SlowCallTest : public ::testing::TestWithParam<SlowCallCase> {
 protected:
  void SetUp() override {
    server_.Start();
    proxy_ = std::make_unique<testing_support::Relay>(server_.port());
    client_.port = proxy_->port();
    client_.recv_timeout = kRecvTimeout;
    pool_options_.max_cap = 1;  // no second connection to hide behind
    pool_options_.max_idle = 1;
  }

  // Makes one reply late; the call must fail with a receive timeout, on time.
  void InjectLateReply(const Runner& run) {
    std::function<void(UserServiceClient&)> slow_call = [](UserServiceClient& c) {
      c.sleepMs(500);
    };
    if (GetParam().late_reply == LateReply::kLaggedGetUser) {
      proxy_->SetLag(milliseconds(300));
      slow_call = [](UserServiceClient& c) {
        example::User user;
        c.getUser(user, 1);
      };
    }
    const Stopwatch call;
    try {
      run(slow_call);
      ADD_FAILURE() << "the slow call did not time out";
    } catch (const TTransportException& e) {
      EXPECT_EQ(e.getType(), TTransportException::TIMED_OUT) << e.what();
    }
    const Millis elapsed = call.Elapsed();
    ReportFigure("timed_out_after_ms", std::to_string(elapsed.count()));
    EXPECT_GE(elapsed, Millis(kRecvTimeout) * 0.9);
    EXPECT_LE(elapsed, Loose(Millis(kRecvTimeout) * 3));
    proxy_->SetLag(milliseconds(0));
    // Long enough for the late reply to reach the old connection's socket.
    std::this_thread::sleep_for(milliseconds(600));
  }

  // kCheckedCalls getUser calls, each answer checked; failures are counted and go on.
  static CallOutcomes CheckedCalls(const Runner& run) {
    CallOutcomes outcomes;
    const GetUserFn get_user = [&](example::User& user, std::int64_t id) {
      run([&](UserServiceClient& c) { c.getUser(user, id); });
    };
    for (std::int64_t id = 2; id < 2 + kCheckedCalls; ++id) outcomes.Check(get_user, id);
    return outcomes;
  }

  example::UserServer server_{example::UserServerOptions{}};
  std::unique_ptr<testing_support::Relay> proxy_;
  ClientOptions client_;
  PoolOptions pool_options_;
};

TEST_P(SlowCallTest, LateReplyNeverBecomesAnAnswer) {
#ifdef THRIFTPOOL_FAULTS_UBSAN
  if (GetParam().late_reply == LateReply::kSleepMs &&
      GetParam().path == Path::kRawReusedConnection) {
    // The stream is out of step here, and Thrift's TBinaryProtocol::readFieldBegin loads a
    // garbage byte into its TType enum: undefined behaviour that UBSan stops the process for.
    // The LaggedGetUser control shows the reused connection's wrong answers in this build.
    GTEST_SKIP() << "UBSan aborts inside Thrift on the desynchronised stream this control reads";
  }
#endif
  std::unique_ptr<UserPool> pool;
  std::unique_ptr<ThriftConnection> raw_connection;
  std::unique_ptr<UserServiceClient> raw_client;
  Runner run;
  client_.take_out_probe = GetParam().path != Path::kPoolWithoutProbe;
  client_.check_sequence_ids = GetParam().path != Path::kRawReusedConnection;
  if (UsesPool(GetParam().path)) {
    pool = std::make_unique<UserPool>(client_, pool_options_);
    // Not idempotent: a retry must not be what rescues the calls.
    run = [&](const std::function<void(UserServiceClient&)>& fn) { pool->Call(fn); };
  } else {
    raw_connection = std::make_unique<ThriftConnection>(client_);
    raw_client = std::make_unique<UserServiceClient>(raw_connection->protocol());
    run = [&](const std::function<void(UserServiceClient&)>& fn) { fn(*raw_client); };
  }

  InjectLateReply(run);
  ASSERT_FALSE(HasFatalFailure());
  if (GetParam().path == Path::kRawReusedConnectionIdChecked) {
    // The next call reads the late reply first, and the id check rejects it. After that the
    // stream is out of step, so the connection is done with (as the pool would discard it).
    example::User user;
    try {
      raw_client->getUser(user, 2);
      ADD_FAILURE() << "getUser(2) on the reused connection answered id " << user.id;
    } catch (const TProtocolException& e) {
      EXPECT_EQ(e.getType(), TProtocolException::INVALID_DATA);
      EXPECT_NE(std::string(e.what()).find("sequence id"), std::string::npos) << e.what();
    }
    return;
  }
  const CallOutcomes outcomes = CheckedCalls(run);
  ReportFigure("after_late_reply", outcomes.Summary());

  if (UsesPool(GetParam().path)) {
    EXPECT_EQ(outcomes.ok, static_cast<std::uint64_t>(kCheckedCalls)) << outcomes.Summary();
    const ClientPoolStats stats = pool->Stats();
    EXPECT_EQ(stats.pool.closed_broken, 1u) << "the timed-out connection must be discarded";
    EXPECT_EQ(stats.retries, 0u);
    return;
  }
  // The control: the same checks catch the reused connection going wrong.
  EXPECT_LT(outcomes.ok, static_cast<std::uint64_t>(kCheckedCalls)) << outcomes.Summary();
  if (GetParam().late_reply == LateReply::kLaggedGetUser) {
    // The next call gets the previous call's user: a silent wrong answer.
    EXPECT_GT(outcomes.wrong, 0u) << outcomes.Summary();
    EXPECT_NE(outcomes.first_wrong.find("getUser(2) answered id 1,"), std::string::npos)
        << outcomes.first_wrong;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllPaths, SlowCallTest,
    ::testing::Values(SlowCallCase{LateReply::kSleepMs, Path::kPool},
                      SlowCallCase{LateReply::kLaggedGetUser, Path::kPool},
                      SlowCallCase{LateReply::kSleepMs, Path::kPoolWithoutProbe},
                      SlowCallCase{LateReply::kLaggedGetUser, Path::kPoolWithoutProbe},
                      SlowCallCase{LateReply::kSleepMs, Path::kRawReusedConnectionIdChecked},
                      SlowCallCase{LateReply::kLaggedGetUser, Path::kRawReusedConnectionIdChecked},
                      SlowCallCase{LateReply::kSleepMs, Path::kRawReusedConnection},
                      SlowCallCase{LateReply::kLaggedGetUser, Path::kRawReusedConnection}),
    CaseName);

}  // namespace
}  // namespace thriftpool::faults
