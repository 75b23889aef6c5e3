#include "etcd_client.h"

#include <stdexcept>
#include <utility>

namespace thriftpool::discovery::internal {
namespace {

constexpr char kRange[] = "/v3/kv/range";
constexpr char kPut[] = "/v3/kv/put";
constexpr char kDelete[] = "/v3/kv/deleterange";
constexpr char kWatch[] = "/v3/watch";
constexpr char kGrant[] = "/v3/lease/grant";
constexpr char kKeepAlive[] = "/v3/lease/keepalive";
constexpr char kRevoke[] = "/v3/lease/revoke";

EtcdOptions Validated(EtcdOptions options) {
  ValidateEtcdOptions(options);
  return options;
}

}  // namespace

EtcdWatch::EtcdWatch(std::unique_ptr<HttpConnection> connection, std::string url)
    : connection_(std::move(connection)), url_(std::move(url)) {}

std::optional<WatchResponse> EtcdWatch::Next(Clock::time_point deadline) {
  for (;;) {
    const std::optional<std::string> line = connection_->NextLine(deadline);
    if (!line) return std::nullopt;
    if (line->find_first_not_of(" \r\t") == std::string::npos) continue;
    try {
      return ParseWatchResponse(*line);
    } catch (const std::invalid_argument& e) {
      throw EtcdError("etcd at " + url_ + ": " + kWatch + ": " + e.what());
    }
  }
}

EtcdClient::EtcdClient(EtcdOptions options)
    : options_(Validated(std::move(options))), url_(ParseEtcdUrl(options_.url)) {}

std::string EtcdClient::Call(const char* path, const std::string& body,
                             const StopSignal* stop) const {
  const Clock::time_point deadline = Clock::now() + options_.request_timeout;
  HttpConnection connection(url_, deadline, stop);
  connection.Post(path, body, deadline);
  return connection.ReadResponse(deadline);
}

template <class Parse>
auto EtcdClient::Parsed(const char* path, Parse parse, const std::string& body) const {
  try {
    return parse(body);
  } catch (const std::invalid_argument& e) {
    throw EtcdError("etcd at " + url_.text + ": " + path + ": " + e.what());
  }
}

RangeResponse EtcdClient::Range(const std::string& prefix, const StopSignal* stop) const {
  return Parsed(kRange, ParseRangeResponse, Call(kRange, RangeRequest(prefix), stop));
}

EtcdWatch EtcdClient::Watch(const std::string& prefix, std::int64_t start_revision,
                            const StopSignal* stop) const {
  const Clock::time_point deadline = Clock::now() + options_.request_timeout;
  auto connection = std::make_unique<HttpConnection>(url_, deadline, stop);
  connection->Post(kWatch, WatchRequest(prefix, start_revision), deadline);
  // etcd confirms a watch at once ("created"): waiting for it within the request timeout tells a
  // live watch from a connection nobody answers.
  const std::optional<std::string> first = connection->NextLine(deadline);
  if (!first) throw EtcdError("etcd at " + url_.text + ": " + kWatch + ": the stream ended");
  const WatchResponse created = Parsed(kWatch, ParseWatchResponse, *first);
  if (!created.created) {
    throw EtcdError("etcd at " + url_.text + ": " + kWatch +
                    ": the first response does not confirm the watch");
  }
  return EtcdWatch(std::move(connection), url_.text);
}

void EtcdClient::Put(const std::string& key, const std::string& value, std::int64_t lease,
                     const StopSignal* stop) const {
  Parsed(kPut, ParseEmptyResponse, Call(kPut, PutRequest(key, value, lease), stop));
}

void EtcdClient::Delete(const std::string& key, const StopSignal* stop) const {
  Parsed(kDelete, ParseEmptyResponse, Call(kDelete, DeleteRequest(key), stop));
}

std::int64_t EtcdClient::LeaseGrant(std::int64_t ttl_seconds, const StopSignal* stop) const {
  return Parsed(kGrant, ParseLeaseGrantResponse,
                Call(kGrant, LeaseGrantRequest(ttl_seconds), stop));
}

std::int64_t EtcdClient::LeaseKeepAlive(std::int64_t lease, const StopSignal* stop) const {
  return Parsed(kKeepAlive, ParseKeepAliveResponse, Call(kKeepAlive, LeaseIdRequest(lease), stop));
}

void EtcdClient::LeaseRevoke(std::int64_t lease, const StopSignal* stop) const {
  Parsed(kRevoke, ParseEmptyResponse, Call(kRevoke, LeaseIdRequest(lease), stop));
}

}  // namespace thriftpool::discovery::internal
