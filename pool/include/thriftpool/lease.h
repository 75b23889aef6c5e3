// Lease<T>: one object lent out by a ChannelPool<T>, returned when the lease ends.
#ifndef THRIFTPOOL_LEASE_H_
#define THRIFTPOOL_LEASE_H_

#include <thriftpool/internal/pool_core.h>

#include <chrono>
#include <utility>

namespace thriftpool {

template <class T>
class ChannelPool;

// Holds one pooled object. Move-only. When it is destroyed (or moved over) the object goes back to
// its pool, like ChannelPool::Put, or is closed, like ChannelPool::Discard, if MarkBroken() was
// called. A lease may outlive its pool: ending it then closes the object.
// Thread-safety: a lease is used by one thread at a time; ending leases of one pool from many
// threads at once is safe.
template <class T>
class Lease {
 public:
  // An empty lease: holds nothing, operator bool is false.
  Lease() = default;
  Lease(Lease&& other) noexcept
      : core_(std::exchange(other.core_, nullptr)),
        slot_(std::exchange(other.slot_, nullptr)),
        broken_(std::exchange(other.broken_, false)) {}
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      End();
      core_ = std::exchange(other.core_, nullptr);
      slot_ = std::exchange(other.slot_, nullptr);
      broken_ = std::exchange(other.broken_, false);
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { End(); }

  // The object. Undefined on an empty lease.
  T* operator->() const { return get(); }
  T& operator*() const { return *get(); }
  // The object, or nullptr on an empty lease.
  T* get() const { return slot_ ? static_cast<T*>(slot_->object) : nullptr; }
  explicit operator bool() const { return slot_ != nullptr; }

  // The object must not be reused (its stream may be out of sync): ending the lease closes it.
  void MarkBroken() { broken_ = true; }
  bool broken() const { return broken_; }
  // When the object was created. Undefined on an empty lease.
  std::chrono::steady_clock::time_point created_at() const { return slot_->created_at; }

 private:
  friend class ChannelPool<T>;
  Lease(internal::PoolCore* core, internal::Slot* slot) : core_(core), slot_(slot) {}

  // Gives the object back (or closes it when broken) and leaves the lease empty.
  void End() noexcept {
    if (slot_ != nullptr) {
      internal::PoolCore* core = std::exchange(core_, nullptr);
      core->Return(std::exchange(slot_, nullptr), std::exchange(broken_, false));
    }
  }

  internal::PoolCore* core_ = nullptr;
  internal::Slot* slot_ = nullptr;
  bool broken_ = false;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_LEASE_H_
