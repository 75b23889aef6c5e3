#include "client_source.h"

#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/etcd_endpoint_watcher.h>
#include <thriftpool/service_pool.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/thrift_connection.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

// The pool's statistics for the report (times in milliseconds).
nlohmann::json PoolStatsJson(const PoolStats& p) {
  const auto ms = [](std::chrono::nanoseconds d) { return d.count() / 1e6; };
  return {
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

// The endpoints' pools added up (gauges and counters summed, the longest wait the longest).
PoolStats Sum(const std::vector<EndpointStats>& endpoints) {
  PoolStats sum;
  for (const EndpointStats& e : endpoints) {
    const PoolStats& p = e.pool;
    sum.max_cap += p.max_cap;
    sum.open += p.open;
    sum.created += p.created;
    sum.create_failures += p.create_failures;
    sum.closed += p.closed;
    sum.closed_idle_timeout += p.closed_idle_timeout;
    sum.closed_max_lifetime += p.closed_max_lifetime;
    sum.closed_max_idle += p.closed_max_idle;
    sum.closed_broken += p.closed_broken;
    sum.closed_replaced += p.closed_replaced;
    sum.closed_on_release += p.closed_on_release;
    sum.close_errors += p.close_errors;
    sum.wait_count += p.wait_count;
    sum.wait_timeouts += p.wait_timeouts;
    sum.wait_duration += p.wait_duration;
    sum.max_wait_duration = std::max(sum.max_wait_duration, p.max_wait_duration);
  }
  return sum;
}

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
    nlohmann::json details = PoolStatsJson(stats.pool);
    details.update({{"calls", stats.calls},
                    {"retries", stats.retries},
                    {"retries_denied", stats.retries_denied},
                    {"sequence_mismatches", stats.sequence_mismatches}});
    return details;
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

// --mode pool with --endpoints or --etcd: every request is one ServicePool::Call over the
// service's endpoints; with --etcd an EtcdEndpointWatcher keeps them current.
class ServicePoolSource final : public ClientSource {
 public:
  explicit ServicePoolSource(const ToolConfig& config)
      : pool_(config.client, config.pool, config.service, config.endpoints) {
    if (!config.etcd) return;
    discovery::EtcdEndpointWatcher::Options options;
    options.etcd.url = config.etcd->url;
    options.service = config.etcd->service;
    watcher_.emplace(options, [this](const std::vector<Endpoint>& endpoints) {
      KeepDeparted(endpoints);
      pool_.Update(endpoints);
    });
    if (!watcher_->WaitForFirstSet(kFirstSetTimeout)) {
      throw std::runtime_error("etcd at " + config.etcd->url + " gave no endpoint set for '" +
                               config.etcd->service + "' within " +
                               std::to_string(kFirstSetTimeout.count()) + " ms");
    }
  }

  std::unique_ptr<UserCaller> NewCaller() override { return std::make_unique<Caller>(pool_); }
  // Counted before Finish releases the pools (their figures stay, the endpoints' shares too).
  void Finish() override {
    watcher_.reset();  // membership stays as it is now
    final_stats_ = pool_.Stats();
    pool_.Release();
  }
  ConnectionCounts counts() const override {
    const PoolStats sum = Sum(AllEndpoints());
    // Every call has ended by Finish, so Release closed all that were still open.
    return {sum.created, sum.closed + sum.open, final_stats_.retries};
  }
  nlohmann::json Details() const override {
    const ServicePoolStats& stats = final_stats_;
    const std::vector<EndpointStats> all = AllEndpoints();
    nlohmann::json details = PoolStatsJson(Sum(all));
    details.update({{"calls", stats.calls},
                    {"retries", stats.retries},
                    {"retries_denied", stats.retries_denied},
                    {"sequence_mismatches", stats.sequence_mismatches},
                    {"failures", stats.failures},
                    {"ejections", stats.ejections}});
    std::uint64_t attempts = 0;
    for (const EndpointStats& e : all) attempts += e.calls;
    nlohmann::json endpoints = nlohmann::json::array();
    for (std::size_t i = 0; i < all.size(); ++i) {
      const EndpointStats& e = all[i];
      endpoints.push_back({{"endpoint", ToString(e.endpoint)},
                           {"weight", e.endpoint.weight},
                           {"calls", e.calls},
                           {"share", attempts == 0 ? 0.0 : static_cast<double>(e.calls) / attempts},
                           {"failures", e.failures},
                           {"ejections", e.ejections},
                           {"ejected", e.ejected},
                           {"departed", i >= stats.endpoints.size()},
                           {"latency_average_us", e.latency_average_us}});
    }
    details["endpoints"] = std::move(endpoints);
    return details;
  }

 private:
  static constexpr std::chrono::milliseconds kFirstSetTimeout{5000};

  class Caller final : public UserCaller {
   public:
    explicit Caller(ServicePool<UserServiceClient>& pool) : pool_(pool) {}
    void GetUser(User& user, std::int64_t id) override {
      pool_.Call([&](UserServiceClient& c) { c.getUser(user, id); }, kIdempotent);
    }

   private:
    ServicePool<UserServiceClient>& pool_;
  };

  // Before an Update: the figures of the endpoints it removes, so that the report still shows
  // where the calls went (the watcher calls back from one thread).
  void KeepDeparted(const std::vector<Endpoint>& next) {
    for (const EndpointStats& e : pool_.Stats().endpoints) {
      const bool stays = std::any_of(next.begin(), next.end(), [&](const Endpoint& n) {
        return n.host == e.endpoint.host && n.port == e.endpoint.port;
      });
      if (!stays) departed_.push_back(e);
    }
  }
  // The endpoints at the end, then those that left during the run.
  std::vector<EndpointStats> AllEndpoints() const {
    std::vector<EndpointStats> all = final_stats_.endpoints;
    all.insert(all.end(), departed_.begin(), departed_.end());
    return all;
  }

  ServicePool<UserServiceClient> pool_;
  // Written by the watcher's thread until Finish stops it; read after.
  std::vector<EndpointStats> departed_;
  std::optional<discovery::EtcdEndpointWatcher> watcher_;  // destroyed before pool_
  ServicePoolStats final_stats_;
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

std::unique_ptr<ClientSource> MakeClientSource(const ToolConfig& config) {
  const ClientOptions& client = config.client;
  const PoolOptions& pool = config.pool;
  switch (config.mode) {
    case Mode::kPool:
      if (!config.endpoints.empty() || config.etcd) {
        return std::make_unique<ServicePoolSource>(config);
      }
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
