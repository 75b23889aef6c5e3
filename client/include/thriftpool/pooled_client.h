// PooledClient<Client>: a Thrift-generated client that owns its connection, and what the pools of
// them have in common (CallOptions; the ChannelPool of PooledClients that ThriftClientPool and
// each endpoint of a ServicePool hold).
#ifndef THRIFTPOOL_POOLED_CLIENT_H_
#define THRIFTPOOL_POOLED_CLIENT_H_

#include <thriftpool/channel_pool.h>
#include <thriftpool/client_options.h>
#include <thriftpool/thrift_connection.h>

#include <functional>
#include <memory>
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

namespace internal {

// The pool of connections to the server `client` names: the socket probe on take-out (unless
// ClientOptions::take_out_probe is off), and the probe plus `keepalive_call` (if any) on idle
// connections in the background. Opens pool.initial_cap connections (throws what the first
// failed connect throws).
template <class Client>
ChannelPool<PooledClient<Client>> MakeConnectionPool(const ClientOptions& client,
                                                     const PoolOptions& pool,
                                                     std::shared_ptr<ConnectionCounters> counters,
                                                     std::function<void(Client&)> keepalive_call) {
  using Conn = PooledClient<Client>;
  using Pinger = typename ChannelPool<Conn>::Pinger;
  return ChannelPool<Conn>(
      pool,
      [client, counters = std::move(counters)] { return std::make_unique<Conn>(client, counters); },
      [](Conn& c) { c.connection().Close(); },
      client.take_out_probe ? Pinger([](Conn& c) { return c.connection().Probe(); }) : Pinger(),
      [call = std::move(keepalive_call)](Conn& c) {
        if (!c.connection().Probe()) return false;
        if (call) call(c);
        return true;
      });
}

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_POOLED_CLIENT_H_
