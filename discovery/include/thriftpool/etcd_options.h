// EtcdOptions: where etcd is and how long a request to it may take; EtcdError: what a request
// that failed throws.
#ifndef THRIFTPOOL_ETCD_OPTIONS_H_
#define THRIFTPOOL_ETCD_OPTIONS_H_

#include <chrono>
#include <stdexcept>
#include <string>

namespace thriftpool::discovery {

struct EtcdOptions {
  // etcd's client URL, where its v3 JSON gateway is served: "http://HOST:PORT" (a trailing '/'
  // is allowed; an IPv6 host in brackets). Plain HTTP only, as etcd serves it on loopback or
  // behind its own TLS terminator.
  std::string url = "http://127.0.0.1:2379";
  // Bounds every request (connect, send, answer); a watch's wait for the next event is not a
  // request. 1 ms .. 1 h.
  std::chrono::milliseconds request_timeout{2000};
};

// Throws std::invalid_argument naming the URL and what is wrong with it: not "http://", no port,
// a port outside 1..65535, an empty host, a path.
void ValidateEtcdUrl(const std::string& url);

// Throws std::invalid_argument naming the field: the URL (as above), request_timeout outside
// 1 ms .. 1 h.
void ValidateEtcdOptions(const EtcdOptions& options);

// A request to etcd that failed: etcd unreachable, no answer within request_timeout, an HTTP or
// etcd error, or an answer that is not what the v3 API sends. The message names the URL.
class EtcdError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace thriftpool::discovery

#endif  // THRIFTPOOL_ETCD_OPTIONS_H_
