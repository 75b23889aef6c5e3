// Lease<T>: ownership, moves, accessors, and what ending a lease does.
#include <gtest/gtest.h>
#include <thriftpool/lease.h>

#include <thread>
#include <type_traits>
#include <utility>

#include "pool_test_util.h"

namespace thriftpool {
namespace pooltest {
namespace {

static_assert(std::is_default_constructible_v<FakeLease>);
static_assert(!std::is_copy_constructible_v<FakeLease>);
static_assert(!std::is_copy_assignable_v<FakeLease>);
static_assert(std::is_nothrow_move_constructible_v<FakeLease>);
static_assert(std::is_nothrow_move_assignable_v<FakeLease>);
static_assert(!std::is_convertible_v<FakeLease, bool>, "operator bool must be explicit");

class LeaseTest : public PoolTest {
 protected:
  FakePool& pool_ = MakePool(Caps(4, 4));
};

TEST_F(LeaseTest, DefaultConstructedIsEmpty) {
  FakeLease lease;
  EXPECT_FALSE(lease);
  EXPECT_EQ(lease.get(), nullptr);
  EXPECT_FALSE(lease.broken());
}

TEST_F(LeaseTest, AccessorsReachTheSameObject) {
  FakeLease lease = pool_.Get();
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->id(), 1);
  EXPECT_EQ((*lease).id(), 1);
  EXPECT_EQ(&*lease, lease.get());
  EXPECT_EQ(lease.operator->(), lease.get());
}

TEST_F(LeaseTest, MoveConstructionTransfersTheObject) {
  FakeLease source = pool_.Get();
  FakeConn* object = source.get();
  FakeLease target(std::move(source));
  EXPECT_FALSE(source);  // NOLINT(bugprone-use-after-move): moved-from is specified as empty
  EXPECT_EQ(target.get(), object);
  EXPECT_EQ(pool_.Stats().in_use, 1u);
  EXPECT_EQ(pool_.Stats().idle, 0u);
}

TEST_F(LeaseTest, MoveConstructionCarriesTheBrokenMark) {
  FakeLease source = pool_.Get();
  source.MarkBroken();
  {
    FakeLease target(std::move(source));
    EXPECT_TRUE(target.broken());
    EXPECT_FALSE(source.broken());  // NOLINT(bugprone-use-after-move)
  }
  EXPECT_EQ(pool_.Stats().closed_broken, 1u);
  EXPECT_EQ(registry_->CloseCount(1), 1);
}

TEST_F(LeaseTest, MoveAssignmentOverAFullLeaseReturnsTheOldObject) {
  FakeLease first = pool_.Get();
  FakeLease second = pool_.Get();
  FakeConn* second_object = second.get();
  first = std::move(second);
  EXPECT_EQ(first.get(), second_object);
  EXPECT_FALSE(second);  // NOLINT(bugprone-use-after-move)
  const PoolStats stats = pool_.Stats();
  EXPECT_EQ(stats.idle, 1u);
  EXPECT_EQ(stats.in_use, 1u);
  EXPECT_EQ(stats.closed, 0u);
  FakeLease old = pool_.Get(Ms(0));
  EXPECT_EQ(old->id(), 1) << "the overwritten lease's object was not put back";
}

TEST_F(LeaseTest, MoveAssignmentOverABrokenLeaseClosesTheOldObject) {
  FakeLease first = pool_.Get();
  first.MarkBroken();
  first = pool_.Get();
  EXPECT_EQ(first->id(), 2);
  EXPECT_FALSE(first.broken()) << "the broken mark must not stick to the new object";
  EXPECT_EQ(registry_->CloseCount(1), 1);
  EXPECT_EQ(pool_.Stats().closed_broken, 1u);
}

TEST_F(LeaseTest, SelfMoveAssignmentKeepsTheObject) {
  FakeLease lease = pool_.Get();
  FakeLease& alias = lease;
  lease = std::move(alias);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->id(), 1);
  EXPECT_EQ(pool_.Stats().in_use, 1u);
}

TEST_F(LeaseTest, DestructionPutsTheObjectBack) {
  { FakeLease lease = pool_.Get(); }
  EXPECT_EQ(pool_.Stats().idle, 1u);
  EXPECT_EQ(pool_.Stats().in_use, 0u);
  FakeLease again = pool_.Get(Ms(0));
  EXPECT_EQ(again->id(), 1);
  EXPECT_EQ(registry_->created(), 1);
}

TEST_F(LeaseTest, MarkBrokenMakesDestructionADiscard) {
  {
    FakeLease lease = pool_.Get();
    EXPECT_FALSE(lease.broken());
    lease.MarkBroken();
    EXPECT_TRUE(lease.broken());
  }
  const PoolStats stats = pool_.Stats();
  EXPECT_EQ(stats.closed_broken, 1u);
  EXPECT_EQ(stats.open, 0u);
  EXPECT_EQ(registry_->CloseCount(1), 1);
  FakeLease next = pool_.Get(Ms(0));
  EXPECT_EQ(next->id(), 2);
}

TEST_F(LeaseTest, CreatedAtIsTheCreationTime) {
  const auto before = Clock::now();
  FakeLease lease = pool_.Get();
  const auto after = Clock::now();
  const auto created_at = lease.created_at();
  EXPECT_LE(before, created_at);
  EXPECT_LE(created_at, after);
  pool_.Put(std::move(lease));
  std::this_thread::sleep_for(Ms(5));
  FakeLease again = pool_.Get(Ms(0));
  ASSERT_EQ(again->id(), 1);
  EXPECT_EQ(again.created_at(), created_at) << "created_at must not move on reuse";
}

TEST_F(LeaseTest, LeasesMayOutliveTheirPool) {
  FakeLease kept = pool_.Get();
  FakeLease broken = pool_.Get();
  broken.MarkBroken();
  { FakeLease idle = pool_.Get(); }
  DestroyPools();
  EXPECT_EQ(registry_->CloseCount(3), 1) << "the idle object was not closed with the pool";
  EXPECT_EQ(registry_->closed(), 1) << "objects lent out must stay open";
  EXPECT_EQ(kept->id(), 1) << "a lease must stay usable after its pool is gone";

  FakeLease moved = std::move(kept);
  moved = FakeLease();  // ends the lease through move assignment
  EXPECT_EQ(registry_->CloseCount(1), 1);
  broken = FakeLease();
  EXPECT_EQ(registry_->CloseCount(2), 1);
  EXPECT_EQ(registry_->live(), 0);
}

}  // namespace
}  // namespace pooltest
}  // namespace thriftpool
