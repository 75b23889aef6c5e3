// user_client: drives getUser load at a UserService server through a ThriftClientPool, or, for
// comparison, a new connection per call, one dedicated connection per thread or a hand-written
// pool; checks every answer and reports throughput, latency, failures by cause and connection
// churn.
//
//   user_client --mode pool --threads 4 --requests 20000        # embedded server
//   user_client --server 127.0.0.1:9090 --mode per-call --duration-s 3 --json
//
// Exit status: 0 when at least one request succeeded and no answer was wrong (failures are
// counted and reported, they do not fail the run); 1 when any answer was wrong, when no request
// succeeded, or when the pool could not open its initial connections; 2 for a bad command line.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <signal.h>
#include <thrift/Thrift.h>
#include <thriftpool/metrics_server.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/user_server.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "client_source.h"
#include "load_loop.h"
#include "progress_line.h"
#include "run_report.h"
#include "tool_config.h"

// gflags reports a bad command line by calling this hook with 1, and the tool promises 2. The
// hook is gflags' own (exported for its tests); it is not in its public headers.
namespace google {
extern void (*gflags_exitfunc)(int);
}  // namespace google

namespace thriftpool::tool {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadFlags = 2;

constexpr char kUsage[] =
    "Drives getUser load at a UserService server and checks every answer.\n"
    "  user_client [--server HOST:PORT | --endpoints H:P,H:P,... | --etcd URL --service NAME]\n"
    "              [--mode pool|per-call|raw|handwritten] [--threads N]\n"
    "              [--requests N | --duration-s S] [--json] [pool and socket flags]\n"
    "Without --server, a UserServer runs inside the process on 127.0.0.1 and a free port.\n"
    "--requests and --duration-s are mutually exclusive (giving both is an error).\n"
    "Exit status: 0 when some request succeeded and no answer was wrong; 1 when an answer was\n"
    "wrong or no request succeeded; 2 for a bad command line.";

// Set by SIGINT/SIGTERM: the run stops early and still reports. A second signal kills.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "touched from a signal handler");

void OnStopSignal(int) { g_stop.store(true); }

void InstallSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A server that goes away must cost a failed call, not the process.
  signal(SIGPIPE, SIG_IGN);
}

// Parses the command line into gflags; exits with kExitBadFlags (after gflags' message naming
// the flag) for an unknown flag or a bad value, and with 0 after --help.
void ParseFlags(int* argc, char*** argv) {
  google::gflags_exitfunc = [](int) { std::exit(kExitBadFlags); };
  gflags::ParseCommandLineNonHelpFlags(argc, argv, true);
  google::gflags_exitfunc = [](int) { std::exit(kExitOk); };
  gflags::HandleCommandLineHelpFlags();
  google::gflags_exitfunc = &std::exit;
}

LoadSpec LoadSpecOf(const ToolConfig& config) {
  LoadSpec spec;
  spec.threads = config.threads;
  spec.requests = config.requests;
  spec.duration = config.duration;
  spec.users = config.users;
  spec.seed = config.seed;
  return spec;
}

std::unique_ptr<example::UserServer> StartEmbeddedServer(const ToolConfig& config) {
  example::UserServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.transport = config.client.transport;
  options.protocol = config.client.protocol;
  options.users = config.users;
  options.multiplex = !config.client.multiplexed_service.empty();
  auto server = std::make_unique<example::UserServer>(options);
  server->Start();
  return server;
}

int ExitStatusOf(const LoadResult& load) {
  return load.wrong_answers > 0 || load.ok == 0 ? kExitFailed : kExitOk;
}

// Serves /metrics on 127.0.0.1 when --metrics-port is given, and prints where (first on stdout).
// Throws std::runtime_error naming the address when the port is taken.
std::unique_ptr<MetricsServer> StartMetricsServer(const ToolConfig& config) {
  if (!config.metrics_port) return nullptr;
  MetricsServerOptions options;
  options.port = *config.metrics_port;
  auto server = std::make_unique<MetricsServer>(options);
  std::cout << "metrics: " << server->url() << std::endl;
  return server;
}

// --metrics-linger-ms: lets a scraper read the final figures; a stop signal cuts it short.
void Linger(std::chrono::milliseconds linger) {
  const auto until = std::chrono::steady_clock::now() + linger;
  while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int Run(ToolConfig config) {
  const std::unique_ptr<MetricsServer> metrics = StartMetricsServer(config);
  std::unique_ptr<example::UserServer> embedded;
  if (config.server) {
    config.client.host = config.server->host;
    config.client.port = config.server->port;
  } else if (config.endpoints.empty() && !config.etcd) {
    embedded = StartEmbeddedServer(config);
    config.client.host = embedded->host();
    config.client.port = embedded->port();
  }
  std::string target;
  for (const Endpoint& endpoint : config.endpoints) {
    target += (target.empty() ? "" : ",") + ToString(endpoint);
  }
  if (config.etcd) target = "etcd " + config.etcd->url + " service " + config.etcd->service;
  if (target.empty()) target = ToString(Endpoint{config.client.host, config.client.port});

  std::unique_ptr<ClientSource> source;
  try {
    source = MakeClientSource(config);
  } catch (const apache::thrift::TException& e) {
    std::cerr << "user_client: cannot open the pool's " << config.pool.initial_cap
              << " initial connections to " << target << ": " << e.what() << std::endl;
    return kExitFailed;
  }

  RunReport report;
  {
    ProgressLine progress(
        stderr, std::string(ToString(config.mode)) + " x" + std::to_string(config.threads),
        config.requests);
    report.load = RunLoad(
        LoadSpecOf(config), *source, g_stop,
        [&](const LoadProgress& p) {
          progress.Update(p);
          if (config.timeline_interval) report.timeline.push_back(p);
        },
        config.timeline_interval.value_or(std::chrono::milliseconds(250)));
  }
  source->Finish();
  report.connections = source->counts();
  report.details = source->Details();

  report.config = std::move(config);
  report.server = target;
  report.embedded_server = embedded != nullptr;
  PrintSummary(report, std::cout);
  if (report.config.json) std::cout << ToJson(report).dump() << "\n";
  std::cout.flush();
  // The pool stays registered (its connections closed by Finish) while /metrics lingers.
  if (metrics) Linger(report.config.metrics_linger);
  source.reset();
  if (embedded) embedded->Stop();
  return ExitStatusOf(report.load);
}

}  // namespace
}  // namespace thriftpool::tool

int main(int argc, char** argv) {
  using namespace thriftpool::tool;
  gflags::SetUsageMessage(kUsage);
  // Thrift's own diagnostics (one per refused connect, say) would drown the summary; the
  // failures are counted by cause anyway. --minloglevel=1 brings them back.
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_ERROR;
  ParseFlags(&argc, &argv);
  if (argc > 1) {
    std::cerr << "user_client: unexpected argument '" << argv[1] << "' (flags start with --)"
              << std::endl;
    return kExitBadFlags;
  }
  std::optional<ToolConfig> config;
  try {
    config = ToolConfigFromFlags();
  } catch (const std::invalid_argument& e) {
    std::cerr << "user_client: " << e.what() << std::endl;
    return kExitBadFlags;
  }
  google::InitGoogleLogging(argv[0]);
  thriftpool::RouteThriftLogsToGlog();
  InstallSignalHandlers();
  try {
    return Run(std::move(*config));
  } catch (const std::exception& e) {
    std::cerr << "user_client: " << e.what() << std::endl;
    return kExitFailed;
  }
}
