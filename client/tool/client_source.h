// ClientSource: how a request gets a client to call getUser on, per --mode. This is the only part
// of a run that differs between the modes; the load loop, checks and report are shared.
#ifndef THRIFTPOOL_CLIENT_TOOL_CLIENT_SOURCE_H_
#define THRIFTPOOL_CLIENT_TOOL_CLIENT_SOURCE_H_

#include <thriftpool/client_options.h>
#include <thriftpool/pool_options.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "tool_config.h"
#include "user_service_types.h"

namespace thriftpool::tool {

// Issues getUser for one load thread; used by that thread only.
class UserCaller {
 public:
  virtual ~UserCaller() = default;
  // Fills `user` with the server's answer for `id`, or throws what the call threw.
  virtual void GetUser(example::User& user, std::int64_t id) = 0;
};

// Connections a run opened and closed, and the retries it made (pool mode only).
struct ConnectionCounts {
  std::uint64_t created = 0;
  std::uint64_t closed = 0;
  std::uint64_t retries = 0;
};

// Hands each load thread its caller and counts the connections they use.
// Thread-safety: NewCaller may be called from many threads at once; Finish and the getters after
// every caller has been destroyed.
class ClientSource {
 public:
  virtual ~ClientSource() = default;
  // A caller for one load thread, made on that thread before the clock starts, so that
  // whatever it prepares (raw mode's connection) is not timed.
  virtual std::unique_ptr<UserCaller> NewCaller() = 0;
  // Closes whatever the source still holds open (the pool's idle connections).
  virtual void Finish() {}
  virtual ConnectionCounts counts() const = 0;
  // Mode-specific details for the report (pool and handwritten modes: the pool's statistics);
  // null if none.
  virtual nlohmann::json Details() const { return nullptr; }
};

// The source for config.mode: in pool mode a ServicePool over config.endpoints when there are
// any, else a ThriftClientPool (client.host and client.port set). Throws what ThriftClientPool's
// constructor throws (a connect failure when pool.initial_cap > 0).
std::unique_ptr<ClientSource> MakeClientSource(const ToolConfig& config);

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_CLIENT_SOURCE_H_
