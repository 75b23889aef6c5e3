#include <thriftpool/client_options.h>
#include <thriftpool/tls_socket.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace thriftpool {
namespace {

void Require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw std::invalid_argument(std::string("ClientOptions.") + field + ": " + why);
}

// TSocket keeps its timeouts as int milliseconds; a larger value would wrap around.
void RequireTimeout(std::chrono::milliseconds value, const char* field) {
  Require(value.count() >= 0 && value.count() <= std::numeric_limits<int>::max(), field,
          "must be within 0.." + std::to_string(std::numeric_limits<int>::max()) + " ms (got " +
              std::to_string(value.count()) + " ms)");
}

// Without `enabled` the other fields must be empty: a CA or certificate given while TLS is off
// would otherwise mean plaintext that its author believes encrypted.
void ValidateTlsOptions(const TlsOptions& tls) {
  if (!tls.enabled) {
    for (const auto& [field, value] :
         {std::pair<const char*, const std::string&>{"ca_file", tls.ca_file},
          {"cert_file", tls.cert_file},
          {"key_file", tls.key_file},
          {"server_name", tls.server_name}}) {
      Require(value.empty(), "tls.enabled",
              std::string("is false but tls.") + field + " is set: enable TLS or clear it");
    }
    return;
  }
  Require(!tls.cert_file.empty() || tls.key_file.empty(), "tls.cert_file",
          "is empty but tls.key_file is set: mutual TLS needs both");
  Require(!tls.key_file.empty() || tls.cert_file.empty(), "tls.key_file",
          "is empty but tls.cert_file is set: mutual TLS needs both");
  Require(tls.server_name.find_first_of(std::string(" \t\0", 3)) == std::string::npos,
          "tls.server_name", "must be a DNS name or an IP address (got '" + tls.server_name + "')");
  // Reads and checks the files (once per setting: the context is cached for the connections).
  internal::TlsContext::ForClient(tls);
}

}  // namespace

const char* ToString(TransportKind kind) {
  return kind == TransportKind::kFramed ? "framed" : "buffered";
}

const char* ToString(ProtocolKind kind) {
  return kind == ProtocolKind::kCompact ? "compact" : "binary";
}

TransportKind ParseTransportKind(const std::string& text) {
  if (text == "buffered") return TransportKind::kBuffered;
  if (text == "framed") return TransportKind::kFramed;
  throw std::invalid_argument("unknown transport '" + text + "' (expected buffered or framed)");
}

ProtocolKind ParseProtocolKind(const std::string& text) {
  if (text == "binary") return ProtocolKind::kBinary;
  if (text == "compact") return ProtocolKind::kCompact;
  throw std::invalid_argument("unknown protocol '" + text + "' (expected binary or compact)");
}

void ValidateClientOptions(const ClientOptions& options) {
  Require(!options.host.empty(), "host", "must not be empty");
  Require(options.port >= 1 && options.port <= 65535, "port",
          "must be within 1..65535 (got " + std::to_string(options.port) + ")");
  RequireTimeout(options.connect_timeout, "connect_timeout");
  RequireTimeout(options.recv_timeout, "recv_timeout");
  RequireTimeout(options.send_timeout, "send_timeout");
  Require(options.max_message_size >= 1024, "max_message_size", "must be at least 1024 bytes");
  Require(options.max_frame_size >= 1024, "max_frame_size", "must be at least 1024 bytes");
  Require(options.max_frame_size <= options.max_message_size, "max_frame_size",
          "must not exceed max_message_size");
  Require(options.multiplexed_service.find(':') == std::string::npos, "multiplexed_service",
          "must not contain ':' (TMultiplexedProtocol's separator; got '" +
              options.multiplexed_service + "')");
  ValidateTlsOptions(options.tls);
  const RetryOptions& retry = options.retry;
  Require(retry.max_retries >= 0 && retry.max_retries <= 10, "retry.max_retries",
          "must be within 0..10 (got " + std::to_string(retry.max_retries) + ")");
  Require(retry.budget_ratio >= 0 && retry.budget_ratio <= 10, "retry.budget_ratio",
          "must be within [0, 10]");
  Require(retry.budget_min_per_second >= 0, "retry.budget_min_per_second", "must not be negative");
  Require(retry.budget_window.count() >= 1 && retry.budget_window.count() <= 60,
          "retry.budget_window", "must be within 1..60 s");
}

}  // namespace thriftpool
