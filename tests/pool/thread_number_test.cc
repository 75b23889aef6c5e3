// ThisThreadNumber (pool/src/thread_number.h): distinct among live threads, reused after exit.
#include "thread_number.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <future>
#include <set>
#include <thread>
#include <vector>

namespace thriftpool {
namespace internal {
namespace {

std::size_t NumberOfANewThread() {
  std::size_t number = 0;
  std::thread([&number] { number = ThisThreadNumber(); }).join();
  return number;
}

TEST(ThreadNumberTest, StaysTheSameWithinAThread) {
  EXPECT_EQ(ThisThreadNumber(), ThisThreadNumber());
}

TEST(ThreadNumberTest, ThreadsAliveAtOnceHoldDistinctSmallNumbers) {
  constexpr int kThreads = 8;
  const std::size_t mine = ThisThreadNumber();
  std::promise<void> all_numbered;
  std::shared_future<void> done = all_numbered.get_future().share();
  std::vector<std::future<std::size_t>> numbers;
  std::vector<std::promise<void>> numbered(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    numbers.push_back(std::async(std::launch::async, [&numbered, t, done] {
      const std::size_t number = ThisThreadNumber();
      numbered[t].set_value();
      done.wait();  // stay alive until every thread has its number
      return number;
    }));
  }
  for (auto& promise : numbered) promise.get_future().wait();
  all_numbered.set_value();
  std::set<std::size_t> seen{mine};
  for (auto& number : numbers) {
    const std::size_t n = number.get();
    EXPECT_TRUE(seen.insert(n).second) << "number " << n << " held twice";
    // Only this binary's threads ever asked: the main thread and these.
    EXPECT_LE(n, static_cast<std::size_t>(kThreads)) << "not the smallest free number";
  }
}

TEST(ThreadNumberTest, AnExitedThreadsNumberGoesToTheNextThread) {
  ThisThreadNumber();
  const std::size_t first = NumberOfANewThread();
  EXPECT_NE(first, ThisThreadNumber());
  EXPECT_EQ(NumberOfANewThread(), first);
}

}  // namespace
}  // namespace internal
}  // namespace thriftpool
