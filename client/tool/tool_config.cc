// The user_client flags and their translation into a ToolConfig. gflags accepts "--max-cap 8",
// "--max-cap=8" and "--max_cap=8" alike.
#include "tool_config.h"

#include <gflags/gflags.h>
#include <thriftpool/client_options.h>
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/etcd_options.h>
#include <thriftpool/pool_options.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

// Defaults taken from the library's own structs, so that the tool never silently disagrees with
// what a default-constructed pool does.
namespace {
const thriftpool::PoolOptions kPoolDefaults;
const thriftpool::ClientOptions kClientDefaults;
}  // namespace

DEFINE_string(server, "",
              "HOST:PORT of a running UserService server. Empty: start one in this process on "
              "127.0.0.1 and a free port, with the same --transport, --protocol and --users.");
DEFINE_string(endpoints, "",
              "HOST:PORT,HOST:PORT,...: the replicas of one service, called through a ServicePool "
              "(pool mode only; not with --server). The report gives each one's share.");
DEFINE_string(etcd, "",
              "URL of etcd's v3 JSON gateway (e.g. http://127.0.0.1:2379): call the replicas "
              "registered there under --service (user_server --etcd), through a ServicePool that "
              "follows them as they come and go (pool mode only; not with --server or "
              "--endpoints).");
DEFINE_string(service, "", "With --etcd: the service whose replicas to call.");
DEFINE_string(balancer, "p2c",
              "With --endpoints or --etcd: p2c (power of two choices by calls in flight) or rr "
              "(round-robin).");
DEFINE_int64(timeline_ms, 0,
             "Sample the requests done and failed every this many ms (10..60000) into the JSON "
             "report's timeline, e.g. to see throughput recover from a fault. 0: off.");
DEFINE_string(mode, "pool",
              "pool (ThriftClientPool), per-call (a new connection per request: the baseline), "
              "raw (one dedicated connection per thread: the floor) or handwritten (a mutex + "
              "vector + condition_variable pool, as written by hand; --max-cap and "
              "--wait-timeout-ms apply).");
DEFINE_int32(threads, 4, "Load threads, 1..1024.");
DEFINE_int64(requests, 20000,
             "Total requests over all threads (>= 1). Not together with --duration-s.");
DEFINE_double(duration_s, 0,
              "Run for this many seconds (> 0) instead of a request count. Not together with "
              "--requests.");
DEFINE_int64(users, 100000,
             "Ids are drawn from 1..users (>= 1); also the embedded server's user count.");
DEFINE_uint64(seed, 1, "Seed of the id sequence (each thread draws from seed + thread index).");
DEFINE_bool(json, false, "After the summary, print one JSON object as the last stdout line.");
DEFINE_string(transport, ToString(kClientDefaults.transport), "buffered or framed.");
DEFINE_string(protocol, ToString(kClientDefaults.protocol), "binary or compact.");

// Pool mode (PoolOptions); handwritten mode uses --max-cap and --wait-timeout-ms.
DEFINE_int64(initial_cap, static_cast<std::int64_t>(kPoolDefaults.initial_cap),
             "Connections the pool opens before the run.");
DEFINE_int64(max_idle, -1, "Idle connections the pool keeps. -1: --max-cap.");
DEFINE_int64(max_cap, -1, "Open connections at most. -1: --threads.");
DEFINE_int64(idle_timeout_ms, kPoolDefaults.idle_timeout.count(),
             "Close a connection idle this long; 0 = never.");
DEFINE_int64(max_lifetime_ms, kPoolDefaults.max_lifetime.count(),
             "Close a connection this old; 0 = never.");
DEFINE_int64(wait_timeout_ms, kPoolDefaults.wait_timeout.count(),
             "How long a call waits for a connection when max_cap are in use.");
DEFINE_int64(min_idle, static_cast<std::int64_t>(kPoolDefaults.min_idle),
             "Idle connections kept ready in the background.");
DEFINE_int64(keepalive_ms, kPoolDefaults.keepalive_interval.count(),
             "Check idle connections in the background this often; 0 = never.");
DEFINE_int64(ping_skip_ms, kPoolDefaults.ping_skip_window.count(),
             "Lend a connection used less than this long ago without the take-out probe.");
DEFINE_int64(hand_off_after_us, kPoolDefaults.hand_off_after.count(),
             "Hand returned connections to a call that has waited this long (microseconds).");
DEFINE_int32(max_retries, kClientDefaults.retry.max_retries,
             "Further attempts after a connection-level failure (pool mode), 0..10.");

// Every mode (ClientOptions).
DEFINE_int64(connect_timeout_ms, kClientDefaults.connect_timeout.count(), "Connect timeout.");
DEFINE_int64(recv_timeout_ms, kClientDefaults.recv_timeout.count(), "Receive timeout.");
DEFINE_int64(send_timeout_ms, kClientDefaults.send_timeout.count(), "Send timeout.");
DEFINE_bool(check_sequence_ids, kClientDefaults.check_sequence_ids,
            "Number every request and check each reply's id and method name (off only to measure "
            "what the check costs).");
DEFINE_bool(metrics, false,
            "Pool mode: record the pool's metrics and register it as \"user_client\" "
            "in the default MetricsRegistry (off by default; to measure what metrics cost).");
DEFINE_int32(metrics_port, -1,
             "Serve the pool's metrics (Prometheus text format) at http://127.0.0.1:PORT/metrics "
             "during the run (implies --metrics); 0 picks a free port. The URL is printed first "
             "on stdout (\"metrics: URL\"). -1: off.");
DEFINE_int64(metrics_linger_ms, 0,
             "With --metrics-port: after the report, go on serving /metrics this many ms "
             "(0..600000), so that a scraper reads the final figures.");
DEFINE_bool(multiplex, false,
            "Call UserService through TMultiplexedProtocol, as served by user_server --multiplex "
            "(the embedded server is then multiplexed too).");
DEFINE_bool(tls, false,
            "Speak TLS (implied by any --tls-* flag), trusting the system's CAs unless --tls-ca; "
            "needs --server or --endpoints (e.g. user_server --tls-cert --tls-key).");
DEFINE_string(tls_ca, "", "TLS: PEM file of the CAs that issue the server's certificate.");
DEFINE_string(tls_cert, "", "TLS: PEM client certificate for mutual TLS (with --tls-key).");
DEFINE_string(tls_key, "", "TLS: unencrypted PEM private key of --tls-cert.");
DEFINE_string(tls_name, "",
              "TLS: the name the server's certificate must carry, also sent as SNI (default: the "
              "server's host).");

namespace thriftpool::tool {
namespace {

using std::chrono::milliseconds;

[[noreturn]] void Fail(const std::string& message) { throw FlagError(message); }

bool IsSet(const char* flag) { return !gflags::GetCommandLineFlagInfoOrDie(flag).is_default; }

std::int64_t NonNegative(std::int64_t value, const char* flag) {
  if (value < 0) {
    Fail(std::string(flag) + " must not be negative (got " + std::to_string(value) + ")");
  }
  return value;
}

// ThriftConnection hands socket timeouts to TSocket as int milliseconds.
milliseconds SocketTimeout(std::int64_t ms, const char* flag) {
  if (ms > INT_MAX) Fail(std::string(flag) + " must be at most " + std::to_string(INT_MAX));
  return milliseconds(ms);
}

// The library names the struct field in its messages ("PoolOptions.max_idle: ..."); this adds
// the flag that sets it, so the user knows what to change.
std::string FlagForField(const std::string& message) {
  static const struct {
    const char* field;
    const char* flag;
  } kFields[] = {
      {"PoolOptions.initial_cap:", "--initial-cap"},
      {"PoolOptions.max_idle:", "--max-idle"},
      {"PoolOptions.max_cap:", "--max-cap"},
      {"PoolOptions.idle_timeout:", "--idle-timeout-ms"},
      {"PoolOptions.max_lifetime:", "--max-lifetime-ms"},
      {"PoolOptions.wait_timeout:", "--wait-timeout-ms"},
      {"PoolOptions.min_idle:", "--min-idle"},
      {"PoolOptions.keepalive_interval:", "--keepalive-ms"},
      {"PoolOptions.ping_skip_window:", "--ping-skip-ms"},
      {"PoolOptions.hand_off_after:", "--hand-off-after-us"},
      {"ClientOptions.host:", "--server"},
      {"ClientOptions.port:", "--server"},
      {"ClientOptions.connect_timeout:", "--connect-timeout-ms"},
      {"ClientOptions.recv_timeout:", "--recv-timeout-ms"},
      {"ClientOptions.send_timeout:", "--send-timeout-ms"},
      {"ClientOptions.retry.max_retries:", "--max-retries"},
      {"ClientOptions.tls.ca_file:", "--tls-ca"},
      {"ClientOptions.tls.cert_file:", "--tls-cert"},
      {"ClientOptions.tls.key_file:", "--tls-key"},
      {"ClientOptions.tls.server_name:", "--tls-name"},
  };
  for (const auto& entry : kFields) {
    if (message.rfind(entry.field, 0) == 0) return entry.flag;
  }
  return "";
}

template <class Validate, class Options>
void ValidateNamingFlag(Validate validate, const Options& options) {
  try {
    validate(options);
  } catch (const std::invalid_argument& e) {
    const std::string flag = FlagForField(e.what());
    Fail(flag.empty() ? e.what() : std::string(e.what()) + " (flag " + flag + ")");
  }
}

template <class Parse>
auto ParseNamingFlag(Parse parse, const std::string& text, const char* flag) {
  try {
    return parse(text);
  } catch (const std::invalid_argument& e) {
    Fail(std::string(flag) + ": " + e.what());
  }
}

void ReadBounds(ToolConfig& config) {
  if (IsSet("requests") && IsSet("duration_s")) {
    Fail("--requests and --duration-s are mutually exclusive: give one bound");
  }
  if (IsSet("duration_s")) {
    if (!(FLAGS_duration_s > 0 && FLAGS_duration_s <= 86400)) {
      Fail("--duration-s must be within (0, 86400] seconds (got " +
           std::to_string(FLAGS_duration_s) + ")");
    }
    config.duration = std::chrono::duration<double>(FLAGS_duration_s);
  } else {
    if (FLAGS_requests < 1) {
      Fail("--requests must be at least 1 (got " + std::to_string(FLAGS_requests) + ")");
    }
    config.requests = FLAGS_requests;
  }
}

PoolOptions ReadPoolOptions(int threads) {
  PoolOptions pool;
  const std::int64_t max_cap =
      FLAGS_max_cap == -1 ? threads : NonNegative(FLAGS_max_cap, "--max-cap");
  if (max_cap > kMaxMaxCap) {
    Fail("--max-cap must be at most " + std::to_string(kMaxMaxCap) +
         " (each connection takes a local port; got " + std::to_string(max_cap) + ")");
  }
  const std::int64_t max_idle =
      FLAGS_max_idle == -1 ? max_cap : NonNegative(FLAGS_max_idle, "--max-idle");
  pool.max_cap = static_cast<std::size_t>(max_cap);
  pool.max_idle = static_cast<std::size_t>(max_idle);
  pool.initial_cap = static_cast<std::size_t>(NonNegative(FLAGS_initial_cap, "--initial-cap"));
  pool.min_idle = static_cast<std::size_t>(NonNegative(FLAGS_min_idle, "--min-idle"));
  pool.idle_timeout = milliseconds(FLAGS_idle_timeout_ms);
  pool.max_lifetime = milliseconds(FLAGS_max_lifetime_ms);
  pool.wait_timeout = milliseconds(FLAGS_wait_timeout_ms);
  pool.keepalive_interval = milliseconds(FLAGS_keepalive_ms);
  pool.ping_skip_window = milliseconds(FLAGS_ping_skip_ms);
  pool.hand_off_after = std::chrono::microseconds(FLAGS_hand_off_after_us);
  // With --endpoints, ServicePool labels each endpoint's series with its endpoint.
  if (FLAGS_metrics || FLAGS_metrics_port != -1) pool.metrics_name = "user_client";
  ValidateNamingFlag(ValidatePoolOptions, pool);
  return pool;
}

ClientOptions ReadClientOptions(const std::optional<Endpoint>& server) {
  ClientOptions client;
  // The embedded server's port is known only once it listens; 1 stands in for validation.
  client.host = server ? server->host : "127.0.0.1";
  client.port = server ? server->port : 1;
  client.transport = ParseNamingFlag(ParseTransportKind, FLAGS_transport, "--transport");
  client.protocol = ParseNamingFlag(ParseProtocolKind, FLAGS_protocol, "--protocol");
  client.connect_timeout = SocketTimeout(FLAGS_connect_timeout_ms, "--connect-timeout-ms");
  client.recv_timeout = SocketTimeout(FLAGS_recv_timeout_ms, "--recv-timeout-ms");
  client.send_timeout = SocketTimeout(FLAGS_send_timeout_ms, "--send-timeout-ms");
  client.retry.max_retries = FLAGS_max_retries;
  client.check_sequence_ids = FLAGS_check_sequence_ids;
  // The IDL's service name, under which user_server --multiplex registers it.
  if (FLAGS_multiplex) client.multiplexed_service = "UserService";
  client.tls.enabled =
      FLAGS_tls || IsSet("tls_ca") || IsSet("tls_cert") || IsSet("tls_key") || IsSet("tls_name");
  client.tls.ca_file = FLAGS_tls_ca;
  client.tls.cert_file = FLAGS_tls_cert;
  client.tls.key_file = FLAGS_tls_key;
  client.tls.server_name = FLAGS_tls_name;
  ValidateNamingFlag(ValidateClientOptions, client);
  return client;
}

}  // namespace

const char* ToString(Mode mode) {
  switch (mode) {
    case Mode::kPool:
      return "pool";
    case Mode::kPerCall:
      return "per-call";
    case Mode::kRaw:
      return "raw";
    case Mode::kHandwritten:
      return "handwritten";
  }
  return "?";
}

Mode ParseMode(const std::string& text) {
  if (text == "pool") return Mode::kPool;
  if (text == "per-call") return Mode::kPerCall;
  if (text == "raw") return Mode::kRaw;
  if (text == "handwritten") return Mode::kHandwritten;
  throw std::invalid_argument("unknown mode '" + text +
                              "' (expected pool, per-call, raw or handwritten)");
}

ToolConfig ToolConfigFromFlags() {
  ToolConfig config;
  config.mode = ParseNamingFlag(ParseMode, FLAGS_mode, "--mode");
  if (FLAGS_threads < 1 || FLAGS_threads > 1024) {
    Fail("--threads must be within 1..1024 (got " + std::to_string(FLAGS_threads) + ")");
  }
  config.threads = FLAGS_threads;
  ReadBounds(config);
  if (FLAGS_users < 1) Fail("--users must be at least 1 (got " + std::to_string(FLAGS_users) + ")");
  config.users = FLAGS_users;
  config.seed = FLAGS_seed;
  config.json = FLAGS_json;
  if (!FLAGS_server.empty()) {
    config.server = ParseNamingFlag(ParseEndpoint, FLAGS_server, "--server");
  }
  if (IsSet("endpoints")) {
    if (config.server) Fail("--endpoints and --server are mutually exclusive: give one");
    if (config.mode != Mode::kPool) Fail("--endpoints needs --mode pool");
    config.endpoints = ParseNamingFlag(ParseEndpointList, FLAGS_endpoints, "--endpoints");
  }
  if (IsSet("etcd") || IsSet("service")) {
    if (FLAGS_etcd.empty() || FLAGS_service.empty()) Fail("--etcd and --service go together");
    if (config.server || !config.endpoints.empty()) {
      Fail("--etcd, --endpoints and --server are mutually exclusive: give one");
    }
    if (config.mode != Mode::kPool) Fail("--etcd needs --mode pool");
    config.etcd = ToolConfig::Etcd{FLAGS_etcd, FLAGS_service};
    ParseNamingFlag(discovery::ValidateEtcdUrl, FLAGS_etcd, "--etcd");
    ParseNamingFlag(discovery::ServicePrefix, FLAGS_service, "--service");
  }
  config.service.balancer = ParseNamingFlag(ParseBalancerKind, FLAGS_balancer, "--balancer");
  if (FLAGS_timeline_ms != 0) {
    if (FLAGS_timeline_ms < 10 || FLAGS_timeline_ms > 60000) {
      Fail("--timeline-ms must be 0 or within 10..60000 (got " + std::to_string(FLAGS_timeline_ms) +
           ")");
    }
    config.timeline_interval = milliseconds(FLAGS_timeline_ms);
  }
  if (FLAGS_metrics_port < -1 || FLAGS_metrics_port > 65535) {
    Fail("--metrics-port must be -1 (off) or within 0..65535 (got " +
         std::to_string(FLAGS_metrics_port) + ")");
  }
  if (FLAGS_metrics_port != -1) config.metrics_port = FLAGS_metrics_port;
  if (FLAGS_metrics_linger_ms < 0 || FLAGS_metrics_linger_ms > 600000) {
    Fail("--metrics-linger-ms must be within 0..600000 (got " +
         std::to_string(FLAGS_metrics_linger_ms) + ")");
  }
  if (FLAGS_metrics_linger_ms > 0 && !config.metrics_port) {
    Fail("--metrics-linger-ms needs --metrics-port");
  }
  config.metrics_linger = milliseconds(FLAGS_metrics_linger_ms);
  // With --endpoints or --etcd the client options' own host and port are not used: any
  // endpoint passes.
  const bool many = !config.endpoints.empty() || config.etcd;
  config.client =
      ReadClientOptions(many ? std::optional<Endpoint>(Endpoint{"127.0.0.1", 1}) : config.server);
  if (config.client.tls.enabled && !config.server && !many) {
    Fail(
        "--tls and --tls-* need --server, --endpoints or --etcd: the embedded server does not "
        "speak TLS");
  }
  config.pool = ReadPoolOptions(config.threads);
  return config;
}

}  // namespace thriftpool::tool
