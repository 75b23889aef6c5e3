// EtcdUrl: the host and port of an EtcdOptions::url, parsed. Not part of the public API.
#ifndef THRIFTPOOL_DISCOVERY_SRC_ETCD_URL_H_
#define THRIFTPOOL_DISCOVERY_SRC_ETCD_URL_H_

#include <string>

namespace thriftpool::discovery::internal {

struct EtcdUrl {
  std::string host;  // without brackets
  int port = 0;
  std::string text;  // as given, for messages
};

// Throws std::invalid_argument naming the URL (see ValidateEtcdUrl).
EtcdUrl ParseEtcdUrl(const std::string& url);

}  // namespace thriftpool::discovery::internal

#endif  // THRIFTPOOL_DISCOVERY_SRC_ETCD_URL_H_
