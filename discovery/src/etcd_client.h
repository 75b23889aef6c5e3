// EtcdClient: the calls of etcd's v3 JSON gateway that discovery needs, one connection each. Not
// part of the public API.
#ifndef THRIFTPOOL_DISCOVERY_SRC_ETCD_CLIENT_H_
#define THRIFTPOOL_DISCOVERY_SRC_ETCD_CLIENT_H_

#include <thriftpool/etcd_options.h>
#include <thriftpool/internal/etcd_json.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "etcd_url.h"
#include "http_connection.h"
#include "stop_signal.h"

namespace thriftpool::discovery::internal {

// An open watch: the responses of one watch stream, in order.
class EtcdWatch {
 public:
  EtcdWatch(std::unique_ptr<HttpConnection> connection, std::string url);
  // Waits until `deadline` (or `stop`) for the next response; std::nullopt when etcd ended the
  // stream. Throws DeadlinePassed if none came by then (the watch stays usable), EtcdError, or
  // Stopped.
  std::optional<WatchResponse> Next(Clock::time_point deadline);

 private:
  std::unique_ptr<HttpConnection> connection_;
  std::string url_;
};

// Every call is bounded by options.request_timeout and ended early by `stop` (may be null).
// Throws EtcdError naming the URL and the call, or Stopped. Thread-safe (no shared state).
class EtcdClient {
 public:
  // Throws std::invalid_argument (ValidateEtcdOptions).
  explicit EtcdClient(EtcdOptions options);

  RangeResponse Range(const std::string& prefix, const StopSignal* stop) const;
  // Opens a watch of the prefix from `start_revision` and waits for etcd to confirm it.
  EtcdWatch Watch(const std::string& prefix, std::int64_t start_revision,
                  const StopSignal* stop) const;
  void Put(const std::string& key, const std::string& value, std::int64_t lease,
           const StopSignal* stop) const;
  void Delete(const std::string& key, const StopSignal* stop) const;
  std::int64_t LeaseGrant(std::int64_t ttl_seconds, const StopSignal* stop) const;
  // The lease's TTL after the renewal; 0 when etcd no longer has the lease.
  std::int64_t LeaseKeepAlive(std::int64_t lease, const StopSignal* stop) const;
  void LeaseRevoke(std::int64_t lease, const StopSignal* stop) const;

  const std::string& url() const { return url_.text; }

 private:
  // POSTs `body` to `path`, returns the response body.
  std::string Call(const char* path, const std::string& body, const StopSignal* stop) const;
  // Runs a parser on a response, turning its std::invalid_argument into an EtcdError.
  template <class Parse>
  auto Parsed(const char* path, Parse parse, const std::string& body) const;

  EtcdOptions options_;
  EtcdUrl url_;
};

}  // namespace thriftpool::discovery::internal

#endif  // THRIFTPOOL_DISCOVERY_SRC_ETCD_CLIENT_H_
