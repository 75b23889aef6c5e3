// UserStore: the users that a UserServer serves.
#ifndef THRIFTPOOL_SERVER_SRC_USER_STORE_H_
#define THRIFTPOOL_SERVER_SRC_USER_STORE_H_

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "user_service_types.h"

namespace thriftpool::example {

// Users 1..seeded exist from the start, named "user-<id>" with email "user-<id>@example.com";
// they are computed from their id rather than stored, so that a large seed costs neither memory
// nor start-up time. Created users take the ids after the last one. Thread-safe: lookups share a
// lock, creations take it exclusively.
class UserStore {
 public:
  // Throws std::invalid_argument when seeded is negative.
  explicit UserStore(std::int64_t seeded);

  // The user with this id, or nullopt.
  std::optional<User> Find(std::int64_t id) const;
  // Stores a user and returns its id. Throws std::length_error once ids run out (INT64_MAX).
  std::int64_t Create(std::string name, std::string email);
  // Users that exist now, seeded ones included.
  std::int64_t size() const;

 private:
  const std::int64_t seeded_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::int64_t, User> created_;  // guarded by mu_
};

}  // namespace thriftpool::example

#endif  // THRIFTPOOL_SERVER_SRC_USER_STORE_H_
