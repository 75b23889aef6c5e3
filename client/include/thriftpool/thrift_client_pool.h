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
#include <thriftpool/retry_budget.h>
#include <thriftpool/thrift_connection.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace thriftpool {

// A generated Client that owns its connection. Lease<PooledClient<Client>>'s -> reaches the
// generated methods.
template <class Client>
class PooledClient : public Client {
 public:
  // Connects now; throws like ThriftConnection's constructor.
  explicit PooledClient(const ClientOptions& options,
                        std::shared_ptr<ConnectionCounters> counters = nullptr)
      : PooledClient(std::make_unique<ThriftConnection>(options, std::move(counters))) {}
  ThriftConnection& connection() { return *connection_; }

 private:
  explicit PooledClient(std::unique_ptr<ThriftConnection> connection)
      : Client(connection->protocol()), connection_(std::move(connection)) {}
  std::unique_ptr<ThriftConnection> connection_;
};

// How a call may be retried.
struct CallOptions {
  // The call may run twice without harm (a read, or a write with its own deduplication): it is
  // retried after any connection-level failure, even when the request may have reached the
  // server. Otherwise a call is retried only when nothing of it was sent.
  bool idempotent = false;
};
inline constexpr CallOptions kIdempotent{true};

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

  // Throws std::invalid_argument naming the field for bad options; opens pool.initial_cap
  // connections (a connect failure propagates as TTransportException).
  ThriftClientPool(const ClientOptions& client, const PoolOptions& pool,
                   KeepaliveCall keepalive_call = nullptr)
      : options_(Validated(client)),
        budget_(client.retry.budget_ratio, client.retry.budget_min_per_second,
                client.retry.budget_window),
        pool_(
            pool,
            [options = options_, counters = counters_] {
              return std::make_unique<Conn>(options, counters);
            },
            [](Conn& c) { c.connection().Close(); },
            options_.take_out_probe ? Pinger([](Conn& c) { return c.connection().Probe(); })
                                    : Pinger(),
            [call = std::move(keepalive_call)](Conn& c) {
              if (!c.connection().Probe()) return false;
              if (call) call(c);
              return true;
            }) {}

  // Lends a connection (see ChannelPool::Get). The caller must MarkBroken() it after a
  // TTransportException or TProtocolException: its stream may be out of sync, and reusing it
  // could hand a later caller someone else's answer. Call does this by itself.
  Lease<Conn> Get() { return pool_.Get(); }
  Lease<Conn> Get(std::chrono::milliseconds wait) { return pool_.Get(wait); }

  // Runs fn(client) on a pooled connection and returns what fn returns.
  // - TTransportException / TProtocolException: the connection is discarded. The call is tried
  //   again when that is safe (nothing was sent, or `call.idempotent`), at most
  //   ClientOptions::retry.max_retries times, the last time on a newly created connection, and
  //   only while the retry budget allows. Otherwise the exception reaches the caller unchanged.
  // - TApplicationException and the IDL's declared exceptions: the connection is kept (the
  //   stream is in sync) and the exception reaches the caller.
  // - Any other exception from fn: the connection is discarded, the exception propagates.
  // - Get's errors (PoolTimeoutError, PoolClosedError, a connect failure) propagate, not retried.
  template <class Fn>
  std::invoke_result_t<Fn&, Client&> Call(Fn&& fn, CallOptions call = {}) {
    namespace at = apache::thrift;
    calls_.fetch_add(1, std::memory_order_relaxed);
    budget_.RecordCall();
    for (int attempt = 0;; ++attempt) {
      const bool fresh = attempt > 0 && attempt == options_.retry.max_retries;
      Lease<Conn> lease = fresh ? pool_.GetFresh() : pool_.Get();
      const std::uint64_t sent_before = lease->connection().bytes_sent();
      try {
        return fn(static_cast<Client&>(*lease));
      } catch (const at::transport::TTransportException&) {
        lease.MarkBroken();
        const bool nothing_sent = lease->connection().bytes_sent() == sent_before;
        if (!MayRetry(attempt, call.idempotent || nothing_sent)) throw;
      } catch (const at::protocol::TProtocolException&) {
        lease.MarkBroken();
        if (!MayRetry(attempt, call.idempotent)) throw;
      } catch (const at::TException&) {
        throw;  // TApplicationException or a declared exception: the stream is in sync.
      } catch (...) {
        lease.MarkBroken();
        throw;
      }
    }
  }

  // Shuts the pool down (see ChannelPool::Release).
  void Release() { pool_.Release(); }
  std::size_t Len() const { return pool_.Len(); }
  ClientPoolStats Stats() const {
    ClientPoolStats stats;
    stats.pool = pool_.Stats();
    stats.calls = calls_.load(std::memory_order_relaxed);
    stats.retries = retries_.load(std::memory_order_relaxed);
    stats.retries_denied = retries_denied_.load(std::memory_order_relaxed);
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

  bool MayRetry(int attempt, bool safe) {
    if (!safe || attempt >= options_.retry.max_retries) return false;
    if (!budget_.TryWithdraw()) {
      retries_denied_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  using Pinger = typename ChannelPool<Conn>::Pinger;

  const ClientOptions options_;
  RetryBudget budget_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> retries_denied_{0};
  const std::shared_ptr<ConnectionCounters> counters_ = std::make_shared<ConnectionCounters>();
  ChannelPool<Conn> pool_;  // last: destroyed first, while the members its callbacks use live
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_THRIFT_CLIENT_POOL_H_
