#include "user_store.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace thriftpool::example {
namespace {

TEST(UserStoreTest, SeededUsersExistWithTheirNames) {
  const UserStore store(100);
  for (const std::int64_t id : {1, 42, 100}) {
    const std::optional<User> user = store.Find(id);
    ASSERT_TRUE(user.has_value()) << id;
    EXPECT_EQ(user->id, id);
    EXPECT_EQ(user->name, "user-" + std::to_string(id));
    EXPECT_EQ(user->email, "user-" + std::to_string(id) + "@example.com");
  }
  EXPECT_EQ(store.size(), 100);
}

TEST(UserStoreTest, IdsOutsideTheSeedAreUnknown) {
  const UserStore store(100);
  for (const std::int64_t id :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{101},
        std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
    EXPECT_FALSE(store.Find(id).has_value()) << id;
  }
}

TEST(UserStoreTest, CreateTakesTheIdsAfterTheSeed) {
  UserStore store(100);
  EXPECT_EQ(store.Create("ann", "ann@example.com"), 101);
  EXPECT_EQ(store.Create("bob", "bob@example.com"), 102);
  const std::optional<User> bob = store.Find(102);
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->id, 102);
  EXPECT_EQ(bob->name, "bob");
  EXPECT_EQ(bob->email, "bob@example.com");
  EXPECT_EQ(store.size(), 102);
  EXPECT_FALSE(store.Find(103).has_value());
}

TEST(UserStoreTest, EmptySeedStartsAtOne) {
  UserStore store(0);
  EXPECT_FALSE(store.Find(1).has_value());
  EXPECT_EQ(store.Create("first", "first@example.com"), 1);
  EXPECT_TRUE(store.Find(1).has_value());
}

TEST(UserStoreTest, RejectsNegativeSeed) { EXPECT_THROW(UserStore(-1), std::invalid_argument); }

TEST(UserStoreTest, RunsOutOfIdsInsteadOfOverflowing) {
  UserStore store(std::numeric_limits<std::int64_t>::max() - 1);
  EXPECT_EQ(store.Create("last", "last@example.com"), std::numeric_limits<std::int64_t>::max());
  EXPECT_THROW(store.Create("one more", "x@example.com"), std::length_error);
}

TEST(UserStoreTest, ConcurrentCreatesGetDistinctIdsAndStayReadable) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  UserStore store(10);
  std::vector<std::vector<std::int64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, &ids, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::int64_t id = store.Create("t" + std::to_string(t), "e");
        ids[t].push_back(id);
        // Reads interleave with other threads' writes.
        const std::optional<User> user = store.Find(id);
        ASSERT_TRUE(user.has_value());
        ASSERT_EQ(user->name, "t" + std::to_string(t));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::int64_t> distinct;
  for (const auto& per_thread : ids) distinct.insert(per_thread.begin(), per_thread.end());
  EXPECT_EQ(distinct.size(), std::size_t{kThreads * kPerThread});
  EXPECT_EQ(*distinct.begin(), 11);
  EXPECT_EQ(*distinct.rbegin(), 10 + kThreads * kPerThread);
  EXPECT_EQ(store.size(), 10 + kThreads * kPerThread);
}

}  // namespace
}  // namespace thriftpool::example
