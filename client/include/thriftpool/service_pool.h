// ServicePool<Client>: one pool over a service's endpoints (its replicas): a connection pool per
// endpoint, calls balanced towards the least loaded one, failing endpoints ejected and probed back
// in, membership replaceable at any time with Update.
//
//   thriftpool::ServicePool<UserServiceClient> users(client_options, pool_options, {},
//       thriftpool::ParseEndpointList("10.0.0.1:9090,10.0.0.2:9090"));
//   User u;
//   users.Call([&](UserServiceClient& c) { c.getUser(u, 42); }, thriftpool::kIdempotent);
//   users.Update(new_endpoints);   // e.g. from a discovery system's callback
#ifndef THRIFTPOOL_SERVICE_POOL_H_
#define THRIFTPOOL_SERVICE_POOL_H_

#include <thrift/transport/TTransportException.h>
#include <thriftpool/channel_pool.h>
#include <thriftpool/client_options.h>
#include <thriftpool/endpoint.h>
#include <thriftpool/internal/call_loop.h>
#include <thriftpool/internal/retry_gate.h>
#include <thriftpool/internal/service_core.h>
#include <thriftpool/pooled_client.h>
#include <thriftpool/service_pool_options.h>
#include <thriftpool/thrift_connection.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace thriftpool {

template <class Client>
class ServicePool;

// A connection lent by a ServicePool, with the endpoint it is on. Move-only; ending it returns the
// connection (or closes it after MarkBroken, which also counts as a failure of its endpoint).
// Used by one thread at a time.
template <class Client>
class ServiceLease {
 public:
  using Conn = PooledClient<Client>;
  ServiceLease() = default;
  ServiceLease(ServiceLease&&) noexcept = default;
  ServiceLease& operator=(ServiceLease&& other) noexcept {
    if (this != &other) {
      End();
      core_ = std::move(other.core_);
      pick_ = std::move(other.pick_);
      lease_ = std::move(other.lease_);
      recorded_ = std::exchange(other.recorded_, false);
    }
    return *this;
  }
  ~ServiceLease() { End(); }

  Conn* operator->() const { return lease_.get(); }
  Conn& operator*() const { return *lease_; }
  explicit operator bool() const { return static_cast<bool>(lease_); }
  // The endpoint this connection is on. Undefined on an empty lease.
  Endpoint endpoint() const { return pick_.state().endpoint(); }
  // After a TTransportException or TProtocolException: the connection is closed, not reused.
  void MarkBroken() { lease_.MarkBroken(); }

 private:
  friend class ServicePool<Client>;
  ServiceLease(std::shared_ptr<internal::ServiceCore> core, internal::Pick pick, Lease<Conn> lease)
      : core_(std::move(core)), pick_(std::move(pick)), lease_(std::move(lease)) {}

  // Accounts for the attempt once (Call does it itself, with the outcome and latency).
  void Record(bool failed, std::chrono::nanoseconds latency) {
    if (recorded_ || !lease_) return;
    recorded_ = true;
    if (failed) {
      core_->RecordFailure(pick_);
    } else {
      core_->RecordSuccess(pick_, latency);
    }
  }
  void End() noexcept {
    if (!lease_) return;
    Record(lease_.broken(), std::chrono::nanoseconds(-1));
    lease_ = Lease<Conn>();  // the connection goes back before the endpoint may be freed
    pick_ = internal::Pick();
  }

  std::shared_ptr<internal::ServiceCore> core_;
  internal::Pick pick_;  // destroyed after lease_
  Lease<Conn> lease_;
  bool recorded_ = false;
};

struct ServicePoolStats {
  std::vector<EndpointStats> endpoints;
  std::size_t ejected = 0;           // endpoints ejected now
  std::uint64_t calls = 0;           // Call invocations
  std::uint64_t retries = 0;         // further attempts made by Call
  std::uint64_t retries_denied = 0;  // retries the budget refused
  std::uint64_t sequence_mismatches = 0;
  std::uint64_t failures = 0;   // connection-level failures, all endpoints
  std::uint64_t ejections = 0;  // all endpoints
};

// Thread-safety: every member function may be called from any thread at once. The hot path (Get,
// Call, a lease's end) takes no lock shared by all endpoints, and choosing an endpoint is O(1) in
// their number.
template <class Client>
class ServicePool {
 public:
  using Conn = PooledClient<Client>;
  // As ThriftClientPool's: runs on idle connections during keepalive checks, and on the probe
  // connection of an ejected endpoint. Throwing means dead.
  using KeepaliveCall = std::function<void(Client&)>;

  // `client`: everything but host and port. `pool`: applied to each endpoint (max_cap is per
  // endpoint); its initial_cap is not used (a replica that is down must not fail the
  // construction or an Update; min_idle keeps connections ready instead). Throws
  // std::invalid_argument naming the field or the endpoint.
  ServicePool(const ClientOptions& client, const PoolOptions& pool,
              const ServicePoolOptions& service, const std::vector<Endpoint>& endpoints = {},
              KeepaliveCall keepalive_call = nullptr)
      : options_(Validated(client)),
        pool_options_(PerEndpoint(pool)),
        retry_(client.retry),
        keepalive_call_(std::move(keepalive_call)),
        core_(std::make_shared<internal::ServiceCore>(
            service, [this](const Endpoint& e) { return MakeEndpointPool(e); },
            [this](const Endpoint& e) { return ProbeEndpoint(e); })) {
    core_->Update(endpoints);
  }
  ~ServicePool() { core_->Release(); }
  ServicePool(const ServicePool&) = delete;
  ServicePool& operator=(const ServicePool&) = delete;

  // Replaces the endpoint set (see the README's "Many servers": what happens to calls on removed
  // endpoints). Throws std::invalid_argument naming a bad endpoint, changing nothing.
  void Update(const std::vector<Endpoint>& endpoints) { core_->Update(endpoints); }

  // Lends a connection on the endpoint the balancer chooses. A connect failure counts against
  // that endpoint and, while retries are allowed (ClientOptions::retry), the next endpoint is
  // tried; otherwise it propagates (TTransportException). Throws NoEndpointError for an empty
  // set, PoolTimeoutError when the chosen endpoint's pool stays full for wait_timeout,
  // PoolClosedError after Release. The caller must MarkBroken() the lease after a
  // TTransportException or TProtocolException.
  ServiceLease<Client> Get() {
    std::vector<const internal::EndpointState*> tried;
    for (int attempt = 0;; ++attempt) {
      try {
        return Acquire(tried, /*fresh=*/false);
      } catch (const apache::thrift::transport::TTransportException&) {
        if (!retry_.MayRetry(attempt, /*safe=*/true)) throw;
      }
    }
  }

  // Runs fn(client) like ThriftClientPool::Call (the same discarding, retry and budget rules),
  // with each retry on a different endpoint whenever one is in; connect failures are retried
  // too (nothing was sent). Transport and protocol errors count against the endpoint; answers
  // (declared exceptions, TApplicationException) do not.
  template <class Fn>
  std::invoke_result_t<Fn&, Client&> Call(Fn&& fn, CallOptions call = {}) {
    retry_.RecordCall();
    CallPolicy policy{*this, {}};
    return internal::RunCall<Client>(policy, fn, call.idempotent);
  }

  ServicePoolStats Stats() const {
    ServicePoolStats stats;
    stats.endpoints = core_->Stats();
    for (const EndpointStats& e : stats.endpoints) {
      stats.ejected += e.ejected ? 1 : 0;
      stats.failures += e.failures;
      stats.ejections += e.ejections;
    }
    stats.calls = retry_.calls();
    stats.retries = retry_.retries();
    stats.retries_denied = retry_.retries_denied();
    stats.sequence_mismatches = counters_->sequence_mismatches.load(std::memory_order_relaxed);
    return stats;
  }
  // Endpoints in the set now.
  std::size_t size() const { return core_->size(); }
  // Stops the probe thread and releases every endpoint's pool; calls then throw PoolClosedError.
  // Leases still out stay usable. Idempotent.
  void Release() { core_->Release(); }

 private:
  struct EndpointPool final : internal::EndpointPool {
    EndpointPool(const ClientOptions& client, const PoolOptions& pool,
                 std::shared_ptr<ConnectionCounters> counters, KeepaliveCall keepalive_call)
        : pool(internal::MakeConnectionPool<Client>(client, pool, std::move(counters),
                                                    std::move(keepalive_call))) {}
    void Release() override { pool.Release(); }
    void UnregisterMetrics() override { pool.UnregisterMetrics(); }
    PoolStats Stats() const override { return pool.Stats(); }
    ChannelPool<Conn> pool;
  };

  // RunCall's policy: each attempt on an endpoint the call has not tried yet, when there is one.
  struct CallPolicy {
    ServiceLease<Client> Acquire(bool fresh) { return owner.Acquire(tried, fresh); }
    bool RetryAcquire(int attempt) { return owner.retry_.MayRetry(attempt, /*safe=*/true); }
    void Finished(ServiceLease<Client>& lease, internal::AttemptOutcome outcome,
                  std::chrono::nanoseconds elapsed) {
      const bool failed = outcome == internal::AttemptOutcome::kTransportError ||
                          outcome == internal::AttemptOutcome::kProtocolError;
      lease.Record(failed, elapsed);
    }
    bool MayRetry(int attempt, bool safe) { return owner.retry_.MayRetry(attempt, safe); }
    int max_retries() const { return owner.retry_.max_retries(); }
    ServicePool& owner;
    std::vector<const internal::EndpointState*> tried;
  };

  static const ClientOptions& Validated(const ClientOptions& options) {
    ValidateClientOptions(options);
    RouteThriftLogsToGlog();
    return options;
  }
  static PoolOptions PerEndpoint(PoolOptions pool) {
    pool.initial_cap = 0;
    ValidatePoolOptions(pool);
    return pool;
  }
  ClientOptions OptionsFor(const Endpoint& endpoint) const {
    ClientOptions options = options_;
    options.host = endpoint.host;
    options.port = endpoint.port;
    return options;
  }

  // With PoolOptions::metrics_name, each endpoint's pool registers with an endpoint label (a pool
  // that replaces another, at a re-admission or a re-add, after the old one unregistered). If
  // the name is taken all the same (another ServicePool with the same metrics_name), the pool
  // runs unregistered rather than fail.
  std::shared_ptr<internal::EndpointPool> MakeEndpointPool(const Endpoint& endpoint) {
    PoolOptions options = pool_options_;
    if (!options.metrics_name.empty()) options.metrics_endpoint = ToString(endpoint);
    try {
      return std::make_shared<EndpointPool>(OptionsFor(endpoint), options, counters_,
                                            keepalive_call_);
    } catch (const std::invalid_argument&) {
      if (options.metrics_name.empty()) throw;
      options.metrics_name.clear();
      options.metrics_endpoint.clear();
      return std::make_shared<EndpointPool>(OptionsFor(endpoint), options, counters_,
                                            keepalive_call_);
    }
  }
  // A connect, the socket probe and the keepalive call, on a connection of its own.
  bool ProbeEndpoint(const Endpoint& endpoint) noexcept {
    try {
      Conn conn(OptionsFor(endpoint), counters_);
      bool healthy = conn.connection().Probe();
      if (healthy && keepalive_call_) keepalive_call_(conn);
      conn.connection().Close();
      return healthy;
    } catch (...) {
      return false;
    }
  }

  // Chooses an endpoint not in `tried` (when possible), adds it there, and lends a connection on
  // it. An endpoint released after it was chosen (ejected or removed meanwhile) is passed over.
  ServiceLease<Client> Acquire(std::vector<const internal::EndpointState*>& tried, bool fresh) {
    constexpr int kMaxPassedOver = 8;
    for (int passed_over = 0;; ++passed_over) {
      internal::Pick pick = core_->Choose(tried);
      tried.push_back(&pick.state());
      ChannelPool<Conn>& pool = static_cast<EndpointPool&>(pick.pool()).pool;
      try {
        Lease<Conn> lease = fresh ? pool.GetFresh() : pool.Get();
        return ServiceLease<Client>(core_, std::move(pick), std::move(lease));
      } catch (const PoolClosedError&) {
        if (passed_over == kMaxPassedOver) throw;
      } catch (const apache::thrift::transport::TTransportException&) {
        core_->RecordFailure(pick);
        throw;
      }
    }
  }

  const ClientOptions options_;
  const PoolOptions pool_options_;
  internal::RetryGate retry_;
  const KeepaliveCall keepalive_call_;
  const std::shared_ptr<ConnectionCounters> counters_ = std::make_shared<ConnectionCounters>();
  // Last: its probe thread calls back into the members above. Leases keep it alive.
  const std::shared_ptr<internal::ServiceCore> core_;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_SERVICE_POOL_H_
