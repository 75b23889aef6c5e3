// ThriftClientPool<Client>: a ChannelPool of Thrift-generated clients over TSocket, with a
// take-out socket probe, automatic discarding of connections whose stream may be out of sync,
// and safe retries.
//
//   thriftpool::ClientOptions client;  client.port = 9090;
//   thriftpool::PoolOptions pool;      pool.max_cap = 16;
//   thriftpool::ThriftClientPool<UserServiceClient> users(client, pool);
//   User u;
//   users.Call([&](UserServiceClient& c) { c.getUser(u, 42); }, thriftpool::kIdempotent);
//   {
//     auto c = users.Get();   // or lend one directly; c->getUser(u, 42) reaches the client
//     c->getUser(u, 42);      // on a TTransportException/TProtocolException: c.MarkBroken()
//   }
#ifndef THRIFTPOOL_THRIFT_CLIENT_POOL_H_
#define THRIFTPOOL_THRIFT_CLIENT_POOL_H_

#include <thrift/TApplicationException.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/channel_pool.h>
#include <thriftpool/client_options.h>
#include <thriftpool/internal/call_loop.h>
#include <thriftpool/internal/metric_shards.h>
#include <thriftpool/internal/retry_gate.h>
#include <thriftpool/metrics_registry.h>
#include <thriftpool/pooled_client.h>
#include <thriftpool/thrift_connection.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace thriftpool {

struct ClientPoolStats {
  PoolStats pool;
  std::uint64_t calls = 0;           // Call invocations
  std::uint64_t retries = 0;         // further attempts made by Call
  std::uint64_t retries_denied = 0;  // retries the budget refused (the failure reached the caller)
  // Replies whose sequence id or method name did not match their request (each one threw
  // TProtocolException; see ClientOptions::check_sequence_ids).
  std::uint64_t sequence_mismatches = 0;
};

// Thread-safety: every member function may be called from any thread at once.
template <class Client>
class ThriftClientPool {
 public:
  using Conn = PooledClient<Client>;
  // Runs while idle connections are checked in the background (PoolOptions::keepalive_interval),
  // after the socket probe: e.g. [](Client& c) { c.ping(); }. Throwing means dead.
  using KeepaliveCall = std::function<void(Client&)>;

  // Throws std::invalid_argument naming the field for bad options (or when pool.metrics_name is
  // registered already); opens pool.initial_cap connections (a connect failure propagates as
  // TTransportException). With pool.metrics_name set, the calls are counted too (README.md,
  // "Metrics").
  ThriftClientPool(const ClientOptions& client, const PoolOptions& pool,
                   KeepaliveCall keepalive_call = nullptr)
      : options_(Validated(client)),
        retry_(client.retry),
        call_metrics_(pool.metrics_name.empty() ? nullptr : std::make_unique<CallShards>()),
        pool_(internal::MakeConnectionPool<Client>(options_, pool, counters_,
                                                   std::move(keepalive_call))),
        call_registration_(RegisterCalls(pool)) {}

  // Lends a connection (see ChannelPool::Get). The caller must MarkBroken() it after a
  // TTransportException or TProtocolException: its stream may be out of sync, and reusing it
  // could hand a later caller someone else's answer. Call does this by itself. `file` and
  // `line`: where leak detection says the lease was taken (the caller's, by default).
  Lease<Conn> Get(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return pool_.Get(file, line);
  }
  Lease<Conn> Get(std::chrono::milliseconds wait, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
    return pool_.Get(wait, file, line);
  }

  // Runs fn(client) on a pooled connection and returns what fn returns.
  // - TTransportException / TProtocolException: the connection is discarded. The call is tried
  //   again when that is safe (nothing was sent, or `call.idempotent`), at most
  //   ClientOptions::retry.max_retries times, the last time on a newly created connection, and
  //   only while the retry budget allows. Otherwise the exception reaches the caller unchanged.
  // - TApplicationException and the IDL's declared exceptions: the connection is kept (the
  //   stream is in sync) and the exception reaches the caller.
  // - Any other exception from fn: the connection is discarded, the exception propagates.
  // - Get's errors (PoolTimeoutError, PoolClosedError, a connect failure) propagate, not retried.
  // `file` and `line` (the caller's, by default) are where leak detection says its connection
  // was taken.
  template <class Fn>
  std::invoke_result_t<Fn&, Client&> Call(Fn&& fn, CallOptions call = {},
                                          const char* file = __builtin_FILE(),
                                          int line = __builtin_LINE()) {
    retry_.RecordCall();
    CallPolicy policy{*this, file, line};
    return internal::RunCall<Client>(policy, fn, call.idempotent);
  }

  // Shuts the pool down (see ChannelPool::Release).
  void Release() { pool_.Release(); }
  std::size_t Len() const { return pool_.Len(); }
  ClientPoolStats Stats() const {
    ClientPoolStats stats;
    stats.pool = pool_.Stats();
    stats.calls = retry_.calls();
    stats.retries = retry_.retries();
    stats.retries_denied = retry_.retries_denied();
    stats.sequence_mismatches = counters_->sequence_mismatches.load(std::memory_order_relaxed);
    return stats;
  }
  const ClientOptions& client_options() const { return options_; }
  const PoolOptions& pool_options() const { return pool_.options(); }

 private:
  static const ClientOptions& Validated(const ClientOptions& options) {
    ValidateClientOptions(options);
    RouteThriftLogsToGlog();
    return options;
  }

  // The call metrics: the duration histogram, and calls by CallOutcome.
  using CallShards = internal::MetricShards<1, kCallOutcomes>;
  using Clock = std::chrono::steady_clock;

  // RunCall's policy: Get's errors (a connect failure among them) reach the caller unretried.
  // With metrics on, it counts the call when it ends (it lives as long as the Call).
  struct CallPolicy {
    Lease<Conn> Acquire(bool fresh) {
      outcome = CallOutcome::kNoConnection;  // unless an attempt runs
      return fresh ? owner.pool_.GetFresh(file, line) : owner.pool_.Get(file, line);
    }
    bool RetryAcquire(int /*attempt*/) { return false; }
    void Finished(Lease<Conn>& /*lease*/, internal::AttemptOutcome attempt,
                  std::chrono::nanoseconds /*elapsed*/) {
      static_assert(static_cast<int>(internal::AttemptOutcome::kOtherError) ==
                    static_cast<int>(CallOutcome::kOtherError));
      outcome = static_cast<CallOutcome>(attempt);
    }
    bool MayRetry(int attempt, bool safe) { return owner.retry_.MayRetry(attempt, safe); }
    int max_retries() const { return owner.retry_.max_retries(); }
    ~CallPolicy() {
      if (owner.call_metrics_ == nullptr) return;
      const std::size_t thread = internal::ThisThreadNumber();
      owner.call_metrics_->Add(thread, static_cast<int>(outcome));
      owner.call_metrics_->Observe(thread, 0, Clock::now() - start);
    }
    ThriftClientPool& owner;
    const char* file;
    int line;
    CallOutcome outcome = CallOutcome::kNoConnection;
    const Clock::time_point start =
        owner.call_metrics_ != nullptr ? Clock::now() : Clock::time_point();
  };

  MetricsRegistry::Registration RegisterCalls(const PoolOptions& pool) {
    if (call_metrics_ == nullptr) return {};
    MetricsRegistry& registry =
        pool.metrics_registry != nullptr ? *pool.metrics_registry : MetricsRegistry::Default();
    return registry.RegisterCalls(pool.metrics_name, pool.metrics_endpoint, [this](CallMetrics* m) {
      for (std::size_t i = 0; i < kCallOutcomes; ++i) {
        m->calls[i] = call_metrics_->Counter(static_cast<int>(i));
      }
      m->retries = retry_.retries();
      m->retries_denied = retry_.retries_denied();
      m->duration = call_metrics_->Histogram(0);
    });
  }

  const ClientOptions options_;
  internal::RetryGate retry_;
  const std::shared_ptr<ConnectionCounters> counters_ = std::make_shared<ConnectionCounters>();
  const std::unique_ptr<CallShards> call_metrics_;  // null unless metrics are on
  ChannelPool<Conn> pool_;  // destroyed before the members its callbacks use
  // Last: unregistered first, while what Render reads lives.
  MetricsRegistry::Registration call_registration_;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_THRIFT_CLIENT_POOL_H_
