#include "client_source.h"

#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/thrift_connection.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <utility>

#include "UserService.h"
#include "handwritten_pool.h"

namespace thriftpool::tool {
namespace {

using apache::thrift::TException;
using apache::thrift::protocol::TProtocolException;
using apache::thrift::transport::TTransportException;
using example::User;
using example::UserServiceClient;

// Opens and closes counted by the sources that manage connections themselves.
struct ConnectionCounters {
  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> closed{0};

  ConnectionCounts Snapshot() const { return {created.load(), closed.load(), 0}; }
};

// Call only inside a catch block: whether the connection whose call threw must be closed. A
// transport or protocol error may leave a late answer or half a message in the stream, which the
// generated client would hand to the next call; a declared exception or a TApplicationException
// arrives whole, so the stream is still in sync; anything else leaves it in an unknown state.
bool MustCloseAfterCurrentException() {
  try {
    throw;
  } catch (const TTransportException&) {
    return true;
  } catch (const TProtocolException&) {
    return true;
  } catch (const TException&) {
    return false;
  } catch (...) {
    return true;
  }
}

// A generated client on a connection of its own, counted from a successful open to its close.
class CountedClient {
 public:
  // Connects now; throws TTransportException when it cannot (and then counts nothing).
  CountedClient(const ClientOptions& options, ConnectionCounters& counters)
      : connection_(options), client_(connection_.protocol()), counters_(counters) {
    counters_.created.fetch_add(1, std::memory_order_relaxed);
  }
  ~CountedClient() {
    connection_.Close();
    counters_.closed.fetch_add(1, std::memory_order_relaxed);
  }
  CountedClient(const CountedClient&) = delete;
  CountedClient& operator=(const CountedClient&) = delete;

  UserServiceClient& client() { return client_; }

 private:
  ThriftConnection connection_;
  UserServiceClient client_;
  ConnectionCounters& counters_;
};

// --mode pool: every request is one ThriftClientPool::Call, as an application would make it.
class PoolSource final : public ClientSource {
 public:
  PoolSource(const ClientOptions& client, const PoolOptions& pool) : pool_(client, pool) {}

  std::unique_ptr<UserCaller> NewCaller() override { return std::make_unique<Caller>(pool_); }
  void Finish() override { pool_.Release(); }
  ConnectionCounts counts() const override {
    const ClientPoolStats stats = pool_.Stats();
    return {stats.pool.created, stats.pool.closed, stats.retries};
  }
  nlohmann::json Details() const override {
    const ClientPoolStats stats = pool_.Stats();
    const PoolStats& p = stats.pool;
    const auto ms = [](std::chrono::nanoseconds d) { return d.count() / 1e6; };
    return {
        {"calls", stats.calls},
        {"retries", stats.retries},
        {"retries_denied", stats.retries_denied},
        {"sequence_mismatches", stats.sequence_mismatches},
        {"max_cap", p.max_cap},
        {"open", p.open},
        {"created", p.created},
        {"create_failures", p.create_failures},
        {"closed", p.closed},
        {"closed_idle_timeout", p.closed_idle_timeout},
        {"closed_max_lifetime", p.closed_max_lifetime},
        {"closed_max_idle", p.closed_max_idle},
        {"closed_broken", p.closed_broken},
        {"closed_replaced", p.closed_replaced},
        {"closed_on_release", p.closed_on_release},
        {"close_errors", p.close_errors},
        {"wait_count", p.wait_count},
        {"wait_timeouts", p.wait_timeouts},
        {"wait_ms_total", ms(p.wait_duration)},
        {"wait_ms_max", ms(p.max_wait_duration)},
    };
  }

 private:
  class Caller final : public UserCaller {
   public:
    explicit Caller(ThriftClientPool<UserServiceClient>& pool) : pool_(pool) {}
    void GetUser(User& user, std::int64_t id) override {
      // getUser is a read: safe to run twice, so the pool may retry it after any connection
      // failure.
      pool_.Call([&](UserServiceClient& c) { c.getUser(user, id); }, kIdempotent);
    }

   private:
    ThriftClientPool<UserServiceClient>& pool_;
  };

  ThriftClientPool<UserServiceClient> pool_;
};

// --mode per-call: open, call, close for every request; what an application without a pool pays.
class PerCallCaller final : public UserCaller {
 public:
  PerCallCaller(const ClientOptions& client, ConnectionCounters& counters)
      : client_(client), counters_(counters) {}
  void GetUser(User& user, std::int64_t id) override {
    CountedClient connection(client_, counters_);
    connection.client().getUser(user, id);
  }

 private:
  const ClientOptions& client_;
  ConnectionCounters& counters_;
};

// --mode raw: one connection per thread, opened before the clock starts and never shared: no
// pool bookkeeping, no probe. A pool can approach this, not beat it.
class RawCaller final : public UserCaller {
 public:
  RawCaller(const ClientOptions& client, ConnectionCounters& counters)
      : client_(client), counters_(counters) {
    // A failed open here is not fatal: the first request tries again and its failure is counted
    // like any other.
    try {
      Connect();
    } catch (const TTransportException&) {
    }
  }
  void GetUser(User& user, std::int64_t id) override {
    if (!connection_) Connect();
    try {
      connection_->client().getUser(user, id);
    } catch (...) {
      if (MustCloseAfterCurrentException()) connection_.reset();  // never reused
      throw;
    }
  }

 private:
  void Connect() { connection_.emplace(client_, counters_); }

  const ClientOptions& client_;
  ConnectionCounters& counters_;
  std::optional<CountedClient> connection_;
};

// The modes that manage connections themselves differ only in their caller.
template <class Caller>
class OwnConnectionsSource final : public ClientSource {
 public:
  explicit OwnConnectionsSource(const ClientOptions& client) : client_(client) {}

  std::unique_ptr<UserCaller> NewCaller() override {
    return std::make_unique<Caller>(client_, counters_);
  }
  ConnectionCounts counts() const override { return counters_.Snapshot(); }

 private:
  const ClientOptions client_;
  ConnectionCounters counters_;
};

// --mode handwritten: HandWrittenPool, the pool a team writes by hand, holding the same
// connection + generated client pairs as the other modes (ThriftClientPool holds such pairs too),
// with --max-cap and --wait-timeout-ms. Like such a pool it has no take-out check, no expiry and
// no retries; like any correct one it destroys a connection whose stream may be out of sync.
class HandwrittenSource final : public ClientSource {
 public:
  HandwrittenSource(const ClientOptions& client, const PoolOptions& pool)
      : client_(client),
        wait_(pool.wait_timeout),
        max_cap_(pool.max_cap),
        pool_(std::in_place, pool.max_cap,
              [this] { return std::make_unique<CountedClient>(client_, counters_); }) {}

  std::unique_ptr<UserCaller> NewCaller() override {
    return std::make_unique<Caller>(*pool_, wait_, closed_broken_);
  }
  // Destroys the pool, and with it the idle connections, so that they count as closed.
  void Finish() override { pool_.reset(); }
  ConnectionCounts counts() const override { return counters_.Snapshot(); }
  nlohmann::json Details() const override {
    return {{"max_cap", max_cap_}, {"closed_broken", closed_broken_.load()}};
  }

 private:
  using Pool = HandWrittenPool<CountedClient>;

  class Caller final : public UserCaller {
   public:
    Caller(Pool& pool, std::chrono::milliseconds wait, std::atomic<std::uint64_t>& closed_broken)
        : pool_(pool), wait_(wait), closed_broken_(closed_broken) {}
    // Throws std::runtime_error when no connection is free within the wait, and what the call
    // threw; never retries.
    void GetUser(User& user, std::int64_t id) override {
      std::unique_ptr<CountedClient> connection = pool_.Get(wait_);
      try {
        connection->client().getUser(user, id);
      } catch (...) {
        if (MustCloseAfterCurrentException()) {
          connection.reset();  // closes it; the Put of nullptr below frees its place
          closed_broken_.fetch_add(1, std::memory_order_relaxed);
        }
        pool_.Put(std::move(connection));
        throw;
      }
      pool_.Put(std::move(connection));
    }

   private:
    Pool& pool_;
    const std::chrono::milliseconds wait_;
    std::atomic<std::uint64_t>& closed_broken_;
  };

  // Declared before pool_: its factory uses them, and its idle connections close into them.
  const ClientOptions client_;
  ConnectionCounters counters_;
  std::atomic<std::uint64_t> closed_broken_{0};
  const std::chrono::milliseconds wait_;
  const std::size_t max_cap_;
  std::optional<Pool> pool_;
};

}  // namespace

std::unique_ptr<ClientSource> MakeClientSource(Mode mode, const ClientOptions& client,
                                               const PoolOptions& pool) {
  switch (mode) {
    case Mode::kPool:
      return std::make_unique<PoolSource>(client, pool);
    case Mode::kPerCall:
      return std::make_unique<OwnConnectionsSource<PerCallCaller>>(client);
    case Mode::kRaw:
      return std::make_unique<OwnConnectionsSource<RawCaller>>(client);
    case Mode::kHandwritten:
      return std::make_unique<HandwrittenSource>(client, pool);
  }
  return nullptr;
}

}  // namespace thriftpool::tool
