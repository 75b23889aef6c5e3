// The JSON of etcd's v3 gateway: requests built and responses parsed, without any I/O (the
// fuzzer feeds these parsers arbitrary bytes). Not part of the public API.
#ifndef THRIFTPOOL_INTERNAL_ETCD_JSON_H_
#define THRIFTPOOL_INTERNAL_ETCD_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace thriftpool::discovery::internal {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

struct RangeResponse {
  std::int64_t revision = 0;  // the store's revision at the read: watch from revision + 1
  std::vector<KeyValue> kvs;
};

struct WatchEvent {
  bool deleted = false;  // else a put
  KeyValue kv;
};

// One object of a watch's response stream.
struct WatchResponse {
  std::int64_t revision = 0;
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  // non-zero: the start revision was compacted away
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

// Standard base64 with padding, as the gateway encodes bytes.
std::string Base64Encode(std::string_view bytes);
// Throws std::invalid_argument if `text` is not valid padded base64.
std::string Base64Decode(std::string_view text);
// The end of the key range that holds every key starting with `prefix` (the prefix with its last
// byte below 0xff incremented). Throws std::invalid_argument for an empty prefix.
std::string PrefixEnd(std::string_view prefix);

std::string RangeRequest(std::string_view prefix);
std::string WatchRequest(std::string_view prefix, std::int64_t start_revision);
std::string PutRequest(std::string_view key, std::string_view value, std::int64_t lease);
std::string DeleteRequest(std::string_view key);
std::string LeaseGrantRequest(std::int64_t ttl_seconds);
std::string LeaseIdRequest(std::int64_t lease);  // keep-alive and revoke

// Each throws std::invalid_argument saying what is wrong: not JSON, not an object, an error
// object from etcd ({"error": ..., "code": N}, its message quoted), a member of the wrong type,
// a revision or id that is not a decimal integer string, a key or value that is not base64.
RangeResponse ParseRangeResponse(std::string_view json);
WatchResponse ParseWatchResponse(std::string_view json);
std::int64_t ParseLeaseGrantResponse(std::string_view json);  // the lease id
// The lease's remaining TTL in seconds; 0 when etcd no longer has the lease.
std::int64_t ParseKeepAliveResponse(std::string_view json);
// Checks a response whose content does not matter (put, delete, revoke) for an error object.
void ParseEmptyResponse(std::string_view json);

}  // namespace thriftpool::discovery::internal

#endif  // THRIFTPOOL_INTERNAL_ETCD_JSON_H_
