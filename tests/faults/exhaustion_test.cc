// Scenario 7, exhaustion: 16 threads share 2 connections, each call holding one for 50 ms, and
// wait at most 100 ms for one. Waits must end on time with PoolTimeoutError, nothing may
// deadlock, and the FIFO hand-off must serve every thread.
#include <gtest/gtest.h>
#include <thriftpool/pool_errors.h>
#include <thriftpool/user_server.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fault_support.h"

namespace thriftpool::faults {
namespace {

constexpr int kThreads = 16;
constexpr milliseconds kWaitTimeout(100);
constexpr milliseconds kRun(2500);

struct ThreadResult {
  int ok = 0;
  std::vector<Millis> timeouts;  // how long each Get waited before PoolTimeoutError
  std::vector<std::string> other_failures;
  Clock::time_point finished;
};

TEST(ExhaustionTest, WaitersTimeOutOnTimeAndNoneStarves) {
  example::UserServer server{example::UserServerOptions{}};
  server.Start();
  ClientOptions client;
  client.port = server.port();
  client.recv_timeout = milliseconds(2000);
  PoolOptions options;
  options.max_cap = 2;
  options.max_idle = 2;
  options.wait_timeout = kWaitTimeout;
  UserPool pool(client, options);
  StatsSampler sampler([&] { return pool.Stats().pool; });

  std::vector<ThreadResult> results(kThreads);
  ThreadGroup threads;
  const Clock::time_point deadline = Clock::now() + kRun;
  for (int t = 0; t < kThreads; ++t) {
    threads.Start([&, t] {
      ThreadResult& result = results[t];
      while (Clock::now() < deadline) {
        const Stopwatch call;
        try {
          pool.Call([](example::UserServiceClient& c) { c.sleepMs(50); });
          ++result.ok;
        } catch (const PoolTimeoutError&) {
          result.timeouts.push_back(call.Elapsed());
        } catch (...) {
          result.other_failures.push_back(DescribeCurrentException());
        }
      }
      result.finished = Clock::now();
    });
  }
  threads.JoinAll();
  sampler.Stop();

  int ok = 0;
  int min_ok = 1 << 30;
  std::vector<Millis> timeouts;
  Clock::time_point last_finish = deadline;
  for (const ThreadResult& result : results) {
    ok += result.ok;
    min_ok = std::min(min_ok, result.ok);
    timeouts.insert(timeouts.end(), result.timeouts.begin(), result.timeouts.end());
    last_finish = std::max(last_finish, result.finished);
    EXPECT_TRUE(result.other_failures.empty()) << result.other_failures.front();
  }
  std::sort(timeouts.begin(), timeouts.end());
  ASSERT_FALSE(timeouts.empty()) << "the pool was never exhausted: the test proves nothing";
  const PoolStats stats = pool.Stats().pool;
  ReportFigure("exhaustion",
               std::to_string(ok) + " calls ok (fewest per thread " + std::to_string(min_ok) +
                   "), " + std::to_string(timeouts.size()) + " PoolTimeoutError, waits " +
                   std::to_string(timeouts.front().count()) + ".." +
                   std::to_string(timeouts.back().count()) + " ms (median " +
                   std::to_string(timeouts[timeouts.size() / 2].count()) + "), last thread done " +
                   std::to_string(Millis(last_finish - deadline).count()) +
                   " ms after the deadline, max open " + std::to_string(sampler.max_open()));

  // On time: never early, and late only by scheduling noise.
  EXPECT_GE(timeouts.front(), Millis(kWaitTimeout) * 0.9);
  EXPECT_LE(timeouts.back(), Loose(Millis(kWaitTimeout) + Millis(150)));
  // No deadlock: every thread ended within one wait and one call of the deadline.
  EXPECT_LE(Millis(last_finish - deadline), Loose(Millis(500)));
  // No starvation: every thread got through, repeatedly.
  EXPECT_GE(min_ok, 1);
  EXPECT_EQ(stats.wait_timeouts, timeouts.size());
  EXPECT_LE(sampler.max_committed(), options.max_cap);
  EXPECT_EQ(stats.closed_broken, 0u);
}

}  // namespace
}  // namespace thriftpool::faults
