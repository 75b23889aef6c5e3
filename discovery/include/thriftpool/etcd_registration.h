// EtcdRegistration: a server's own key in etcd, under a lease kept alive while the object lives.
//
//   thriftpool::discovery::EtcdRegistration::Options options;
//   options.etcd.url = "http://127.0.0.1:2379";
//   options.service = "users";
//   options.endpoint = {"10.1.2.3", 9090, 1};   // where clients reach this server
//   thriftpool::discovery::EtcdRegistration registration(options);
#ifndef THRIFTPOOL_ETCD_REGISTRATION_H_
#define THRIFTPOOL_ETCD_REGISTRATION_H_

#include <thriftpool/endpoint.h>
#include <thriftpool/etcd_options.h>

#include <chrono>
#include <memory>
#include <string>

namespace thriftpool::discovery {

// Puts EndpointKey(service, endpoint) = EndpointValue(endpoint) under a lease of `ttl`, renews
// the lease every ttl/3 from a background thread, and, if etcd lost the lease (it expired while
// etcd was unreachable, or was revoked), grants a new one and puts the key again. Logs (glog) once
// per change of state, not per attempt. A process that is killed leaves the key until the lease
// expires; one that destroys its registration removes it at once.
//
// Thread-safety: registered() and key() from any thread.
class EtcdRegistration {
 public:
  struct Options {
    EtcdOptions etcd;
    std::string service;
    Endpoint endpoint;
    std::chrono::seconds ttl{10};  // 1 s .. 1 h
  };

  // Grants the lease and puts the key before returning. Throws std::invalid_argument naming a
  // bad field, EtcdError (naming the URL) when etcd cannot be reached or refuses, within about
  // two request_timeouts.
  explicit EtcdRegistration(Options options);
  // Stops the keep-alive thread, deletes the key and revokes the lease (each bounded by
  // request_timeout; a failure is logged, the lease then expires by itself).
  ~EtcdRegistration();
  EtcdRegistration(const EtcdRegistration&) = delete;
  EtcdRegistration& operator=(const EtcdRegistration&) = delete;

  // Whether the key is believed present: the last put or keep-alive succeeded.
  bool registered() const;
  const std::string& key() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thriftpool::discovery

#endif  // THRIFTPOOL_ETCD_REGISTRATION_H_
