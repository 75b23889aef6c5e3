// user_server: serves the sample UserService until SIGINT or SIGTERM.
//
// Prints "listening on HOST:PORT" as its first line on stdout once it accepts connections; with
// --metrics-port, "metrics: URL" next; with --etcd, "etcd: KEY" once registered.
// With --etcd, a SIGTERM or SIGINT first deletes the key, then serves --drain-ms longer (callers
// that routed a call here before they saw the key go still get their answer), prints
// "left etcd: N calls arrived after the key was deleted, the last after M ms", and stops.
// Exit status: 0 after a signal, 1 when it cannot listen or register, 2 for a bad command line.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <signal.h>
#include <thrift/Thrift.h>
#include <thriftpool/etcd_registration.h>
#include <thriftpool/metrics_server.h>
#include <thriftpool/user_server.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

DEFINE_string(host, "127.0.0.1", "Address to listen on.");
DEFINE_int32(port, 0, "Port to listen on, 0..65535; 0 picks any free port.");
DEFINE_string(transport, "buffered", "Thrift transport: buffered or framed.");
DEFINE_string(protocol, "binary", "Thrift protocol: binary or compact.");
DEFINE_int64(users, 100000, "Users that exist from the start (ids 1..N), N >= 0.");
DEFINE_int32(idle_timeout_ms, 0,
             "Close a connection that sends no request for this many ms, >= 0; 0 = never.");
DEFINE_double(delay_ms, 0,
              "Each getUser waits this many ms before answering (fractions too), 0..60000.");
DEFINE_bool(multiplex, false,
            "Serve UserService and ServerInfo through one TMultiplexedProcessor, under those "
            "names (clients: user_client --multiplex).");
DEFINE_string(tls_cert, "",
              "Serve TLS (1.2 at least) with this PEM certificate chain; needs --tls-key.");
DEFINE_string(tls_key, "", "The unencrypted PEM private key of --tls-cert.");
DEFINE_string(tls_ca, "",
              "With --tls-cert: require client certificates issued by a CA in this PEM file "
              "(mutual TLS).");
DEFINE_int32(metrics_port, -1,
             "Serve GET /metrics (the process's MetricsRegistry, Prometheus text format) on "
             "127.0.0.1 at this port; 0 picks a free port. -1: off.");
DEFINE_string(
    etcd, "",
    "Register in etcd (v3 JSON gateway, e.g. http://127.0.0.1:2379) under "
    "/thriftpool/services/<--service>/<host:port>, with a lease kept alive while it runs; "
    "the key is deleted on SIGTERM/SIGINT. Needs --service.");
DEFINE_string(service, "", "With --etcd: the service name to register under.");
DEFINE_int32(etcd_ttl_s, 10,
             "With --etcd: the lease's time to live in seconds, 1..3600 (after a SIGKILL the key "
             "stays this long).");
DEFINE_string(advertise_host, "",
              "With --etcd: the host registered for clients to connect to; default --host.");
DEFINE_int32(drain_ms, 1000,
             "With --etcd: after deleting the key on SIGTERM/SIGINT, serve this many ms longer, "
             "0..60000.");

namespace {

using thriftpool::ParseProtocolKind;
using thriftpool::ParseTransportKind;

template <typename Parse>
bool Parses(Parse parse, const std::string& text) {
  try {
    parse(text);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

bool ValidHost(const char*, const std::string& host) { return !host.empty(); }
bool ValidPort(const char*, std::int32_t port) { return port >= 0 && port <= 65535; }
bool ValidTransport(const char*, const std::string& text) {
  return Parses(ParseTransportKind, text);
}
bool ValidProtocol(const char*, const std::string& text) { return Parses(ParseProtocolKind, text); }
bool ValidUsers(const char*, std::int64_t users) { return users >= 0; }
bool ValidIdleTimeout(const char*, std::int32_t ms) { return ms >= 0; }
bool ValidDelay(const char*, double ms) { return ms >= 0 && ms <= 60000; }
bool ValidMetricsPort(const char*, std::int32_t port) { return port >= -1 && port <= 65535; }
bool ValidTtl(const char*, std::int32_t seconds) { return seconds >= 1 && seconds <= 3600; }
bool ValidDrain(const char*, std::int32_t ms) { return ms >= 0 && ms <= 60000; }

DEFINE_validator(host, &ValidHost);
DEFINE_validator(port, &ValidPort);
DEFINE_validator(transport, &ValidTransport);
DEFINE_validator(protocol, &ValidProtocol);
DEFINE_validator(users, &ValidUsers);
DEFINE_validator(idle_timeout_ms, &ValidIdleTimeout);
DEFINE_validator(delay_ms, &ValidDelay);
DEFINE_validator(metrics_port, &ValidMetricsPort);
DEFINE_validator(etcd_ttl_s, &ValidTtl);
DEFINE_validator(drain_ms, &ValidDrain);

bool IsBoolFlag(const std::string& name) {
  gflags::CommandLineFlagInfo info;
  return gflags::GetCommandLineFlagInfo(name.c_str(), &info) && info.type == "bool";
}

// gflags reports a bad flag but exits with status 1, and this tool promises 2; so every flag is
// first tried, the way gflags reads it, on flag values that are restored on return. Returns a
// message naming the first flag that gflags would reject, or "" when it accepts them all.
std::string FindBadFlag(int argc, char** argv) {
  gflags::FlagSaver restore_flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    const std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    const std::size_t equals = body.find('=');
    std::string name = body.substr(0, equals);
    std::string value;
    if (equals != std::string::npos) {
      value = body.substr(equals + 1);
    } else if (IsBoolFlag(name)) {
      value = "true";
    } else if (name.rfind("no", 0) == 0 && IsBoolFlag(name.substr(2))) {
      name.erase(0, 2);
      value = "false";
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(name.c_str(), &info)) return "unknown flag --" + name;
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      return "invalid value '" + value + "' for --" + name + " (" + info.description + ")";
    }
  }
  return "";
}

// Serves `drain` longer after the key was deleted and says how many calls still arrived.
void Drain(const thriftpool::example::UserServer& server, std::chrono::milliseconds drain) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point left = Clock::now();
  const std::uint64_t calls_at_leave = server.calls();
  std::uint64_t seen = calls_at_leave;
  Clock::duration last_call_after{0};
  while (Clock::now() - left < drain) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::uint64_t now = server.calls();
    if (now != seen) {
      seen = now;
      last_call_after = Clock::now() - left;
    }
  }
  std::cout << "left etcd: " << seen - calls_at_leave
            << " calls arrived after the key was deleted, the last after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(last_call_after).count()
            << " ms" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Serves the sample UserService until SIGINT or SIGTERM.");
  FLAGS_logtostderr = true;
  if (const std::string error = FindBadFlag(argc, argv); !error.empty()) {
    std::cerr << "user_server: " << error << std::endl;
    return 2;
  }
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    std::cerr << "user_server: unexpected argument '" << argv[1] << "'" << std::endl;
    return 2;
  }
  if (FLAGS_etcd.empty() != FLAGS_service.empty()) {
    std::cerr << "user_server: --etcd and --service go together: give both or neither" << std::endl;
    return 2;
  }
  google::InitGoogleLogging(argv[0]);

  // Blocked before any thread exists, so that every thread inherits the mask and the sigwait
  // below receives the signal; no work happens in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A reader that vanishes (a client, or whoever reads our stderr) must cost a failed write, not
  // the process.
  signal(SIGPIPE, SIG_IGN);

  thriftpool::example::UserServerOptions options;
  options.host = FLAGS_host;
  options.port = FLAGS_port;
  options.transport = ParseTransportKind(FLAGS_transport);
  options.protocol = ParseProtocolKind(FLAGS_protocol);
  options.users = FLAGS_users;
  options.idle_timeout = std::chrono::milliseconds(FLAGS_idle_timeout_ms);
  options.multiplex = FLAGS_multiplex;
  options.get_user_delay = std::chrono::microseconds(std::llround(FLAGS_delay_ms * 1000));
  options.tls_cert_file = FLAGS_tls_cert;
  options.tls_key_file = FLAGS_tls_key;
  options.tls_ca_file = FLAGS_tls_ca;
  std::unique_ptr<thriftpool::example::UserServer> server_holder;
  try {
    server_holder = std::make_unique<thriftpool::example::UserServer>(options);
  } catch (const std::invalid_argument& e) {
    // The TLS files are read here; the message names the field (UserServerOptions.tls_*).
    std::cerr << "user_server: " << e.what() << std::endl;
    return 2;
  }
  thriftpool::example::UserServer& server = *server_holder;
  // Before the service, so that "listening on" is printed only when both listen.
  std::unique_ptr<thriftpool::MetricsServer> metrics;
  if (FLAGS_metrics_port != -1) {
    thriftpool::MetricsServerOptions metrics_options;
    metrics_options.port = FLAGS_metrics_port;
    try {
      metrics = std::make_unique<thriftpool::MetricsServer>(metrics_options);
    } catch (const std::runtime_error& e) {
      std::cerr << "user_server: " << e.what() << std::endl;
      return 1;
    }
  }
  try {
    server.Start();
  } catch (const apache::thrift::TException& e) {
    std::cerr << "user_server: cannot listen on " << FLAGS_host << ":" << FLAGS_port << ": "
              << e.what() << std::endl;
    return 1;
  }
  std::cout << "listening on " << server.host() << ":" << server.port() << std::endl;
  if (metrics) std::cout << "metrics: " << metrics->url() << std::endl;
  std::unique_ptr<thriftpool::discovery::EtcdRegistration> registration;
  if (!FLAGS_etcd.empty()) {
    thriftpool::discovery::EtcdRegistration::Options registration_options;
    registration_options.etcd.url = FLAGS_etcd;
    registration_options.service = FLAGS_service;
    registration_options.endpoint = {
        FLAGS_advertise_host.empty() ? server.host() : FLAGS_advertise_host, server.port(), 1};
    registration_options.ttl = std::chrono::seconds(FLAGS_etcd_ttl_s);
    try {
      registration =
          std::make_unique<thriftpool::discovery::EtcdRegistration>(registration_options);
    } catch (const std::invalid_argument& e) {
      std::cerr << "user_server: " << e.what() << std::endl;
      return 2;
    } catch (const std::runtime_error& e) {
      std::cerr << "user_server: cannot register in etcd: " << e.what() << std::endl;
      return 1;
    }
    std::cout << "etcd: " << registration->key() << std::endl;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  LOG(INFO) << "user_server: " << strsignal(signal_number) << ", stopping";
  if (registration) {
    registration.reset();  // deletes the key and revokes the lease
    Drain(server, std::chrono::milliseconds(FLAGS_drain_ms));
  }
  server.Stop();
  return 0;
}
