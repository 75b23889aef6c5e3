// ToolConfig: everything one user_client run needs, built from the command-line flags.
#ifndef THRIFTPOOL_CLIENT_TOOL_TOOL_CONFIG_H_
#define THRIFTPOOL_CLIENT_TOOL_TOOL_CONFIG_H_

#include <thriftpool/client_options.h>
#include <thriftpool/endpoint.h>
#include <thriftpool/pool_options.h>
#include <thriftpool/service_pool_options.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace thriftpool::tool {

// How a request gets its client; the load loop is the same for all of them.
enum class Mode {
  kPool,     // ThriftClientPool::Call: the subject under test
  kPerCall,  // a new connection for every request, closed after it: the baseline without a pool
  kRaw,      // one dedicated connection per thread, opened before the clock starts: the floor
  // HandWrittenPool (a mutex, a LIFO vector, a condition_variable) holding the same connections:
  // the pool a team writes by hand, for comparison when threads outnumber connections.
  kHandwritten,
};
const char* ToString(Mode mode);
// "pool", "per-call", "raw" or "handwritten"; throws std::invalid_argument naming the accepted
// values.
Mode ParseMode(const std::string& text);

// A command line that cannot run. The message names the flag (e.g. "--threads must be at
// least 1"); user_client prints it and exits with status 2.
class FlagError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The largest --max-cap: every connection to the one server needs a local port of its own, and
// both pools reserve room for max_cap connections up front, so a larger value can only fail.
inline constexpr std::int64_t kMaxMaxCap = 65535;

// One run, validated: the pool and client options passed ValidatePoolOptions and
// ValidateClientOptions (client.host/port are filled in once the server is known), and
// pool.max_cap is at most kMaxMaxCap. Handwritten mode uses pool.max_cap and pool.wait_timeout.
struct ToolConfig {
  Mode mode = Mode::kPool;
  int threads = 4;
  // Exactly one bound is set: a total request count, or a wall-clock duration.
  std::optional<std::int64_t> requests;
  std::optional<std::chrono::duration<double>> duration;
  // Ids are drawn from 1..users; also the embedded server's seed count.
  std::int64_t users = 100000;
  std::uint64_t seed = 1;
  bool json = false;
  // Unset, and no endpoints: start an embedded UserServer on 127.0.0.1 and a free port.
  std::optional<Endpoint> server;
  // --endpoints (pool mode only): a ServicePool over these instead of one server.
  std::vector<Endpoint> endpoints;
  // --etcd and --service (pool mode only): a ServicePool whose endpoints are read and watched in
  // etcd under that service's prefix (thriftpool::discovery::EtcdEndpointWatcher).
  struct Etcd {
    std::string url;
    std::string service;
  };
  std::optional<Etcd> etcd;
  ServicePoolOptions service;
  // --timeline-ms: sample the counts this often for the JSON report's timeline.
  std::optional<std::chrono::milliseconds> timeline_interval;
  // --metrics-port: serve GET /metrics (the pool's series) on 127.0.0.1 at this port, 0 for a
  // free one; unset: no endpoint. Implies pool.metrics_name = "user_client".
  std::optional<int> metrics_port;
  // --metrics-linger-ms: after the report, go on serving /metrics this long (pool still
  // registered), so that a scraper reads the final figures.
  std::chrono::milliseconds metrics_linger{0};
  ClientOptions client;
  PoolOptions pool;
};

// Reads the gflags (parsed already) into a ToolConfig. Throws FlagError naming the flag.
ToolConfig ToolConfigFromFlags();

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_TOOL_CONFIG_H_
