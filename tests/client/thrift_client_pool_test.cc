#include <glog/logging.h>
#include <gtest/gtest.h>
#include <thrift/TOutput.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/internal/log_limiter.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "UserService.h"

namespace thriftpool {
namespace {

using apache::thrift::transport::TTransportException;
using example::User;
using example::UserNotFound;
using example::UserServiceClient;
using std::chrono::milliseconds;
using UserPool = ThriftClientPool<UserServiceClient>;

class ThriftClientPoolTest : public ::testing::Test {
 protected:
  ThriftClientPoolTest() {
    example::UserServerOptions options;
    options.users = 1000;
    server_ = std::make_unique<example::UserServer>(options);
    server_->Start();
    client_.port = server_->port();
    client_.recv_timeout = milliseconds(200);
    pool_.max_cap = 4;
    pool_.max_idle = 4;
  }

  std::unique_ptr<UserPool> MakePool() { return std::make_unique<UserPool>(client_, pool_); }

  static User GetUser(UserPool& pool, std::int64_t id, CallOptions call = kIdempotent) {
    User user;
    pool.Call([&](UserServiceClient& c) { c.getUser(user, id); }, call);
    return user;
  }

  static void ExpectRightAnswers(UserPool& pool, int calls) {
    for (int id = 1; id <= calls; ++id) {
      const User user = GetUser(pool, id);
      ASSERT_EQ(user.id, id);
      ASSERT_EQ(user.name, "user-" + std::to_string(id));
    }
  }

  // Poisons every idle connection with a reset the take-out probe does not look for.
  void ResetIdleConnectionsBehindTheProbe(UserPool& pool) {
    server_->KillConnections();
    for (int i = 0; i < 400 && server_->connection_count() > 0; ++i) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_GT(pool.Len(), 0u);
  }

  std::unique_ptr<example::UserServer> server_;
  ClientOptions client_;
  PoolOptions pool_;
};

TEST_F(ThriftClientPoolTest, GetUserThroughCall) {
  auto pool = MakePool();
  const User user = GetUser(*pool, 42);
  EXPECT_EQ(user.id, 42);
  EXPECT_EQ(user.name, "user-42");
  EXPECT_EQ(user.email, "user-42@example.com");
}

TEST_F(ThriftClientPoolTest, LeaseArrowReachesTheGeneratedClient) {
  auto pool = MakePool();
  auto client = pool->Get();
  User user;
  client->getUser(user, 7);
  EXPECT_EQ(user.id, 7);
}

TEST_F(ThriftClientPoolTest, DeclaredExceptionKeepsTheConnection) {
  auto pool = MakePool();
  EXPECT_THROW(GetUser(*pool, 1000000), UserNotFound);
  EXPECT_EQ(GetUser(*pool, 3).id, 3);
  const ClientPoolStats stats = pool->Stats();
  EXPECT_EQ(stats.pool.created, 1u);
  EXPECT_EQ(stats.pool.closed_broken, 0u);
  EXPECT_EQ(stats.retries, 0u);
}

TEST_F(ThriftClientPoolTest, CreateUserThenGetIt) {
  auto pool = MakePool();
  std::int64_t id = 0;
  pool->Call([&](UserServiceClient& c) { id = c.createUser("ada", "ada@example.com"); });
  const User user = GetUser(*pool, id);
  EXPECT_EQ(user.name, "ada");
  EXPECT_EQ(user.email, "ada@example.com");
}

TEST_F(ThriftClientPoolTest, ReusesConnectionsAcrossThreads) {
  auto pool = MakePool();
  ExpectRightAnswers(*pool, 100);
  EXPECT_EQ(pool->Stats().pool.created, 1u);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};  // counted, not thrown: an exception must not end the process
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= 200; ++i) {
        const int id = t * 200 + i;
        try {
          if (GetUser(*pool, id).id != id) ++wrong;
        } catch (const std::exception&) {
          ++failed;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  const ClientPoolStats stats = pool->Stats();
  EXPECT_LE(stats.pool.created, pool_.max_cap);
  EXPECT_EQ(stats.calls, 900u);
}

// After a recv timeout the late answer still sits in the socket: a reused connection would hand
// it to the next caller. The pool must discard the connection instead.
TEST_F(ThriftClientPoolTest, RecvTimeoutDiscardsTheConnectionAndLaterAnswersAreRight) {
  auto pool = MakePool();
  const auto start = std::chrono::steady_clock::now();
  try {
    pool->Call([](UserServiceClient& c) { c.sleepMs(500); });
    FAIL() << "sleepMs(500) returned within a 200 ms recv timeout";
  } catch (const TTransportException& e) {
    EXPECT_EQ(e.getType(), TTransportException::TIMED_OUT);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(450));
  EXPECT_EQ(pool->Stats().pool.closed_broken, 1u);
  EXPECT_EQ(pool->Stats().retries, 0u);  // the request was sent and is not idempotent
  ExpectRightAnswers(*pool, 300);
}

TEST_F(ThriftClientPoolTest, RetriesWhenNothingWasSent) {
  pool_.ping_skip_window = milliseconds(60000);  // let the dead connection reach the call
  auto pool = MakePool();
  GetUser(*pool, 1);
  ResetIdleConnectionsBehindTheProbe(*pool);
  const User user = GetUser(*pool, 5, CallOptions{});  // not idempotent: safe as nothing left
  EXPECT_EQ(user.id, 5);
  const ClientPoolStats stats = pool->Stats();
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.pool.closed_broken, 1u);
}

TEST_F(ThriftClientPoolTest, IdempotentCallsAreRetriedAndTheLastRunsOnAFreshConnection) {
  auto pool = MakePool();
  GetUser(*pool, 1);
  try {
    pool->Call([](UserServiceClient& c) { c.sleepMs(500); }, kIdempotent);
    FAIL() << "sleepMs(500) returned within a 200 ms recv timeout";
  } catch (const TTransportException& e) {
    EXPECT_EQ(e.getType(), TTransportException::TIMED_OUT);
  }
  const ClientPoolStats stats = pool->Stats();
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(stats.pool.closed_broken, 3u);
  EXPECT_EQ(stats.pool.created, 3u);  // first connection, one made for retry 1, a fresh one last
}

TEST_F(ThriftClientPoolTest, ExhaustedBudgetLetsTheFailureThrough) {
  client_.retry.budget_ratio = 0;
  client_.retry.budget_min_per_second = 0;
  pool_.ping_skip_window = milliseconds(60000);
  auto pool = MakePool();
  GetUser(*pool, 1);
  ResetIdleConnectionsBehindTheProbe(*pool);
  EXPECT_THROW(GetUser(*pool, 2), TTransportException);
  const ClientPoolStats stats = pool->Stats();
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.retries_denied, 1u);
}

TEST_F(ThriftClientPoolTest, OtherExceptionsFromTheCallbackDiscardTheConnection) {
  auto pool = MakePool();
  EXPECT_THROW(pool->Call([](UserServiceClient&) -> void { throw std::runtime_error("mine"); }),
               std::runtime_error);
  EXPECT_EQ(pool->Stats().pool.closed_broken, 1u);
  EXPECT_EQ(GetUser(*pool, 9).id, 9);
}

TEST_F(ThriftClientPoolTest, KeepaliveCallRunsOnIdleConnections) {
  pool_.keepalive_interval = milliseconds(20);
  std::atomic<int> pings{0};
  UserPool pool(client_, pool_, [&](UserServiceClient& c) {
    c.ping();
    ++pings;
  });
  GetUser(pool, 1);
  for (int i = 0; i < 400 && pings < 3; ++i) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_GE(pings.load(), 3);
  EXPECT_EQ(GetUser(pool, 2).id, 2);
}

TEST_F(ThriftClientPoolTest, RejectsBadOptionsByName) {
  client_.port = 0;
  try {
    MakePool();
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("port"), std::string::npos);
  }
}

class CapturingSink : public google::LogSink {
 public:
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t length) override {
    text += std::string(message, length);
  }
  std::string text;
};

// The limiter is process-wide: ctest runs this test in a process of its own, where the first
// diagnostic is the first to pass.
TEST_F(ThriftClientPoolTest, ThriftDiagnosticsGoThroughGlogRateLimited) {
  auto pool = MakePool();
  CapturingSink sink;
  google::AddLogSink(&sink);
  for (int i = 0; i < 1000; ++i) {
    apache::thrift::GlobalOutput(("diagnostic " + std::to_string(i) + " from thrift;").c_str());
  }
  google::RemoveLogSink(&sink);
  EXPECT_NE(sink.text.find("thrift: diagnostic 0 from thrift;"), std::string::npos) << sink.text;
  std::size_t lines = 0;
  for (std::size_t at = sink.text.find("thrift: "); at != std::string::npos;
       at = sink.text.find("thrift: ", at + 1)) {
    ++lines;
  }
  EXPECT_LE(lines, static_cast<std::size_t>(internal::LogLimiter::kBurst))
      << "1000 diagnostics in a burst, not a line each";
}

}  // namespace
}  // namespace thriftpool
