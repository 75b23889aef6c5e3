// What the cluster tests read from a ServicePool of UserService clients, and the load they put
// through it.
#ifndef THRIFTPOOL_TESTS_CLUSTER_SERVICE_POOL_SUPPORT_H_
#define THRIFTPOOL_TESTS_CLUSTER_SERVICE_POOL_SUPPORT_H_

#include <thriftpool/service_pool.h>

#include <cstdint>

#include "../faults/fault_support.h"
#include "UserService.h"

namespace thriftpool::faults {

using UserServicePool = ServicePool<example::UserServiceClient>;

// The figures of the endpoint on `port` in `stats`, or null if it is not in the set.
inline const EndpointStats* FindEndpoint(const ServicePoolStats& stats, int port) {
  for (const EndpointStats& e : stats.endpoints) {
    if (e.endpoint.port == port) return &e;
  }
  return nullptr;
}

// Attempts made on the endpoint on `port` (0 if it is not in the set).
inline std::uint64_t AttemptsOn(const UserServicePool& pool, int port) {
  const ServicePoolStats stats = pool.Stats();
  const EndpointStats* e = FindEndpoint(stats, port);
  return e == nullptr ? 0 : e->calls;
}

// Idempotent getUser calls through pool.Call.
inline GetUserFn Through(UserServicePool& pool) {
  return [&pool](example::User& user, std::int64_t id) {
    pool.Call([&](example::UserServiceClient& c) { c.getUser(user, id); }, kIdempotent);
  };
}

}  // namespace thriftpool::faults

#endif  // THRIFTPOOL_TESTS_CLUSTER_SERVICE_POOL_SUPPORT_H_
