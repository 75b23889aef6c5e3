#include "pool_test_util.h"

#include <algorithm>
#include <future>
#include <sstream>
#include <thread>
#include <utility>

namespace thriftpool {
namespace pooltest {

FakeConn::FakeConn(int id, std::shared_ptr<FakeRegistry> registry)
    : id_(id), registry_(std::move(registry)) {}

FakeConn::~FakeConn() { ++registry_->destroyed_; }

FakePool::Factory FakeRegistry::Factory() {
  return [self = shared_from_this()] { return self->Create(); };
}

FakePool::Closer FakeRegistry::Closer() {
  return [self = shared_from_this()](FakeConn& conn) { self->Close(conn); };
}

FakePool::Pinger FakeRegistry::TakeOutPinger() {
  return [self = shared_from_this()](FakeConn& conn) {
    return self->Ping(conn, self->take_out_pings_);
  };
}

FakePool::Pinger FakeRegistry::KeepalivePinger() {
  return [self = shared_from_this()](FakeConn& conn) {
    return self->Ping(conn, self->keepalive_pings_);
  };
}

void FakeRegistry::SetCreateHook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  create_hook_ = std::move(hook);
}

void FakeRegistry::SetCloseHook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  close_hook_ = std::move(hook);
}

void FakeRegistry::SetPingHook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  ping_hook_ = std::move(hook);
}

void FakeRegistry::Kill(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  dead_.insert(id);
}

int FakeRegistry::CloseCount(int id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(id);
  return it == records_.end() ? 0 : it->second.closes;
}

std::vector<Clock::duration> FakeRegistry::LifeSpans() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Clock::duration> spans;
  for (const auto& [id, record] : records_) {
    if (record.closes > 0) spans.push_back(record.closed_at - record.created_at);
  }
  return spans;
}

void FakeRegistry::ExpectEachClosedOnce() const {
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(unknown_closes_, 0) << "the closer ran on objects the factory never made";
  for (const auto& [id, record] : records_) {
    EXPECT_EQ(record.closes, 1) << "object " << id << " was closed " << record.closes << " times";
  }
  EXPECT_EQ(static_cast<int>(records_.size()), created_.load());
  EXPECT_EQ(closed_.load(), created_.load());
  EXPECT_EQ(destroyed_.load(), created_.load()) << "objects leaked or destroyed twice";
  EXPECT_EQ(live_.load(), 0);
}

FakeRegistry::Hook FakeRegistry::GetHook(const Hook& hook) const {
  std::lock_guard<std::mutex> lock(mu_);
  return hook;
}

std::unique_ptr<FakeConn> FakeRegistry::Create() {
  ++factory_calls_;
  if (Hook hook = GetHook(create_hook_)) hook();
  if (always_fail_) throw FakeDialError("fake dial failed");
  for (int n = fail_next_.load(); n > 0;) {
    if (fail_next_.compare_exchange_weak(n, n - 1)) throw FakeDialError("fake dial failed");
  }
  const int id = next_id_++;
  auto conn = std::make_unique<FakeConn>(id, shared_from_this());
  {
    std::lock_guard<std::mutex> lock(mu_);
    records_[id].created_at = Clock::now();
  }
  ++created_;
  const int live = ++live_;
  for (int seen = max_live_.load(); live > seen && !max_live_.compare_exchange_weak(seen, live);) {
  }
  return conn;
}

void FakeRegistry::Close(FakeConn& conn) {
  --live_;
  ++closed_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = records_.find(conn.id());
    if (it == records_.end()) {
      ++unknown_closes_;
    } else {
      it->second.closed_at = Clock::now();
      ++it->second.closes;
    }
  }
  if (Hook hook = GetHook(close_hook_)) hook();
}

bool FakeRegistry::Ping(FakeConn& conn, std::atomic<int>& counter) {
  ++counter;
  if (Hook hook = GetHook(ping_hook_)) hook();
  std::lock_guard<std::mutex> lock(mu_);
  return dead_.count(conn.id()) == 0;
}

PoolOptions Caps(std::size_t max_cap, std::size_t max_idle) {
  PoolOptions options;
  options.max_cap = max_cap;
  options.max_idle = max_idle;
  return options;
}

PoolOptions PingEveryTakeOut(PoolOptions options) {
  options.ping_skip_window = Ms(0);
  return options;
}

std::string InvariantViolation(const PoolStats& s) {
  std::ostringstream out;
  const std::uint64_t reasons = s.closed_idle_timeout + s.closed_max_lifetime + s.closed_max_idle +
                                s.closed_broken + s.closed_replaced + s.closed_on_release;
  if (s.open != s.idle + s.in_use) {
    out << "open " << s.open << " != idle " << s.idle << " + in_use " << s.in_use;
  } else if (s.open != s.created - s.closed || s.closed > s.created) {
    out << "open " << s.open << " != created " << s.created << " - closed " << s.closed;
  } else if (s.open + s.creating > s.max_cap) {
    out << "open " << s.open << " + creating " << s.creating << " > max_cap " << s.max_cap;
  } else if (s.closed != reasons) {
    out << "closed " << s.closed << " != sum of the closed_* reasons " << reasons;
  } else if (s.max_wait_duration > s.wait_duration) {
    out << "max_wait_duration > wait_duration";
  }
  return out.str();
}

bool WaitUntil(const std::function<bool()>& done, Ms limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(Ms(1));
  }
  return true;
}

bool RunWithWatchdog(std::function<void()> scenario, Ms limit) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread worker([done, scenario = std::move(scenario)] {
    try {
      scenario();
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  if (finished.wait_for(limit) != std::future_status::ready) {
    worker.detach();
    return false;
  }
  worker.join();
  finished.get();
  return true;
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

FakePool& PoolTest::MakePool(const PoolOptions& options, Pingers pingers) {
  FakePool::Pinger take_out;
  FakePool::Pinger keepalive;
  switch (pingers) {
    case Pingers::kNone:
      break;
    case Pingers::kTakeOut:
      take_out = keepalive = registry_->TakeOutPinger();
      break;
    case Pingers::kSeparate:
      take_out = registry_->TakeOutPinger();
      keepalive = registry_->KeepalivePinger();
      break;
    case Pingers::kKeepalive:
      keepalive = registry_->KeepalivePinger();
      break;
  }
  pools_.push_back(std::make_unique<FakePool>(options, registry_->Factory(), registry_->Closer(),
                                              take_out, keepalive));
  return *pools_.back();
}

std::unique_ptr<FakePool> PoolTest::MakeOwnPool(const PoolOptions& options) {
  stats_cover_registry_ = false;
  return std::make_unique<FakePool>(options, registry_->Factory(), registry_->Closer());
}

void PoolTest::DestroyPools() {
  pools_.clear();
  stats_cover_registry_ = false;
}

void PoolTest::AbandonPools() {
  for (auto& pool : pools_) pool.release();  // NOLINT: deliberately leaked, a thread is stuck in it
  pools_.clear();
  abandoned_ = true;
}

bool PoolTest::WaitForWaiters(const FakePool& pool, std::size_t n) {
  return WaitUntil([&] { return pool.Stats().waiting == n; });
}

int PoolTest::ServeWaiterAfter(FakePool& pool, const std::function<void()>& action, Ms settle) {
  const std::size_t before = pool.Stats().waiting;
  auto waiter = std::async(std::launch::async, [&pool] {
    FakeLease lease = pool.Get(Ms(5000));
    return lease->id();
  });
  EXPECT_TRUE(WaitForWaiters(pool, before + 1)) << "the Get did not wait";
  std::this_thread::sleep_for(settle);
  action();
  if (waiter.wait_for(Ms(3000)) != std::future_status::ready) {
    ADD_FAILURE() << "the waiter was not served within 3 s";
  }
  try {
    return waiter.get();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the waiter failed: " << e.what();
    return -1;
  }
}

void PoolTest::TearDown() {
  if (abandoned_) return;
  std::uint64_t created = 0;
  std::uint64_t closed = 0;
  for (auto& pool : pools_) {
    EXPECT_EQ(InvariantViolation(pool->Stats()), "");
    pool->Release();
    const PoolStats after = pool->Stats();
    EXPECT_EQ(InvariantViolation(after), "");
    EXPECT_EQ(after.open, 0u) << "a lease outlived its test";
    created += after.created;
    closed += after.closed;
  }
  if (stats_cover_registry_) {
    EXPECT_EQ(created, static_cast<std::uint64_t>(registry_->created()));
    EXPECT_EQ(closed, static_cast<std::uint64_t>(registry_->closed()));
  }
  pools_.clear();
  registry_->ExpectEachClosedOnce();
}

}  // namespace pooltest
}  // namespace thriftpool
