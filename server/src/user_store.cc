#include "user_store.h"

#include <limits>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace thriftpool::example {
namespace {

User MakeUser(std::int64_t id, std::string name, std::string email) {
  User user;
  user.__set_id(id);
  user.__set_name(std::move(name));
  user.__set_email(std::move(email));
  return user;
}

}  // namespace

UserStore::UserStore(std::int64_t seeded) : seeded_(seeded) {
  if (seeded < 0) {
    throw std::invalid_argument("UserStore: seeded must not be negative (got " +
                                std::to_string(seeded) + ")");
  }
}

std::optional<User> UserStore::Find(std::int64_t id) const {
  if (id >= 1 && id <= seeded_) {
    const std::string name = "user-" + std::to_string(id);
    return MakeUser(id, name, name + "@example.com");
  }
  std::shared_lock lock(mu_);
  const auto found = created_.find(id);
  if (found == created_.end()) return std::nullopt;
  return found->second;
}

std::int64_t UserStore::Create(std::string name, std::string email) {
  std::unique_lock lock(mu_);
  const auto used = static_cast<std::int64_t>(created_.size());
  if (used >= std::numeric_limits<std::int64_t>::max() - seeded_) {
    throw std::length_error("UserStore: no user ids left");
  }
  const std::int64_t id = seeded_ + used + 1;
  created_.emplace(id, MakeUser(id, std::move(name), std::move(email)));
  return id;
}

std::int64_t UserStore::size() const {
  std::shared_lock lock(mu_);
  return seeded_ + static_cast<std::int64_t>(created_.size());
}

}  // namespace thriftpool::example
