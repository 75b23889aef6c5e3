// ChannelPool<T>: a thread-safe pool of expensive objects (connections), in the manner of Go's
// channel pools, without their bugs. See README.md for a tour.
//
//   thriftpool::PoolOptions options;
//   options.max_cap = 16;
//   thriftpool::ChannelPool<Conn> pool(options,
//       [] { return std::make_unique<Conn>(Dial()); },  // factory: throws on failure
//       [](Conn& c) { c.Close(); });                      // closer: runs once per object
//   {
//     auto conn = pool.Get();   // waits up to options.wait_timeout
//     conn->Send(...);          // if the object is now unusable: conn.MarkBroken();
//   }                           // back to the pool (or closed, when marked broken)
#ifndef THRIFTPOOL_CHANNEL_POOL_H_
#define THRIFTPOOL_CHANNEL_POOL_H_

#include <thriftpool/internal/pool_core.h>
#include <thriftpool/lease.h>
#include <thriftpool/pool_errors.h>
#include <thriftpool/pool_options.h>
#include <thriftpool/pool_stats.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>

namespace thriftpool {

// Lends out objects of type T, creating them on demand up to max_cap, keeping up to max_idle of
// them between uses, and closing those that expire, fail a check, or are marked broken.
//
// Guarantees: never more than max_cap objects open; the closer runs exactly once per created
// object; factory, closer and pingers never run while the pool's lock is held; waiters are woken
// in FIFO order whenever a connection or a slot frees up (a Put, a Discard, a failed create, a
// closed expired object), so none waits while it could be served; a waiter whose object fails its
// check keeps its place and its deadline; expiry holds at the moment of hand-out, after the
// pinger ran.
// Thread-safety: every member function may be called from any thread at once.
// Cost: with max_idle == max_cap (the default), Put parks the object for the calling thread and
// that thread's next Get takes it back, both without the pool's lock, so threads that each hold
// one connection at a time share nothing; a Get that finds nothing of its own takes what other
// threads parked before it creates or waits. With max_idle < max_cap, and with min_idle > 0 while
// the pool has room to create (so that a take-out can ask for a refill), Get and Put take the
// pool's lock briefly instead; a min_idle pool at max_cap parks.
template <class T>
class ChannelPool {
 public:
  // Makes a new object; throws on failure (the exception reaches the caller of Get unchanged).
  using Factory = std::function<std::unique_ptr<T>()>;
  // Releases what the object holds (e.g. closes its socket). Runs exactly once per object;
  // exceptions are swallowed and counted in PoolStats::close_errors.
  using Closer = std::function<void(T&)>;
  // Checks an object: false (or an exception) means dead, and the object is closed.
  using Pinger = std::function<bool(T&)>;

  // Throws std::invalid_argument naming the field for bad options or a missing factory or closer,
  // or when options.metrics_name is registered already. Opens options.initial_cap objects; a
  // factory exception propagates.
  // `pinger` (optional) checks each object on take-out (see PoolOptions::ping_skip_window), and,
  // with PoolOptions::keepalive_interval, idle objects in the background.
  ChannelPool(PoolOptions options, Factory factory, Closer closer, Pinger pinger = nullptr)
      : ChannelPool(options, std::move(factory), std::move(closer), pinger, pinger) {}

  // As above, with a different check for idle objects in the background (`keepalive_pinger`),
  // e.g. a cheap socket probe on take-out and a real round trip while idle.
  ChannelPool(PoolOptions options, Factory factory, Closer closer, Pinger take_out_pinger,
              Pinger keepalive_pinger)
      : core_(MakeCore(options, std::move(factory), std::move(closer), std::move(take_out_pinger),
                       std::move(keepalive_pinger))) {}

  ChannelPool(const ChannelPool&) = delete;
  ChannelPool& operator=(const ChannelPool&) = delete;
  // Releases the pool. Leases still out stay usable; ending them closes their objects.
  ~ChannelPool() { core_->Abandon(); }

  // Lends an object: an idle one that passes the checks, else a new one, waiting up to
  // options.wait_timeout (or `wait`) when max_cap are open. The wait counts from the call (from
  // the first take-out check, if one ran), never restarts, and may be anything: 0 or less fails at
  // once when nothing is free, milliseconds::max() waits practically forever (durations are
  // capped at 100 years). A pinger or factory already running is not cut short. Throws
  // PoolTimeoutError when the wait ends empty, PoolClosedError after Release, or what the
  // factory throws. `file` and `line` (the caller's, by default) are where leak detection says
  // the lease was taken; a wrapper passes on its own caller's.
  Lease<T> Get(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return Get(core_->options().wait_timeout, file, line);
  }
  Lease<T> Get(std::chrono::milliseconds wait, const char* file = __builtin_FILE(),
               int line = __builtin_LINE()) {
    return Lease<T>(core_, core_->Acquire(wait, internal::AcquireMode::kAny, file, line));
  }
  // Like Get, but always a newly created object, never one that was lent before: an idle one is
  // closed to make room if needed, and when it has to wait, the place of whatever is returned
  // first (that object is closed). For a last attempt after failures on pooled objects.
  Lease<T> GetFresh(std::chrono::milliseconds wait, const char* file = __builtin_FILE(),
                    int line = __builtin_LINE()) {
    return Lease<T>(core_, core_->Acquire(wait, internal::AcquireMode::kFresh, file, line));
  }
  Lease<T> GetFresh(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return GetFresh(core_->options().wait_timeout, file, line);
  }

  // Gives the object back for reuse (or closes it if it was marked broken), leaving `lease`
  // empty. Throws std::invalid_argument if the lease is empty or from another pool.
  // It does not wait for the waiter it wakes: it notifies one after unlocking (Discard and a
  // lease's destructor too), or hands the object to the oldest one that is due: it has waited
  // hand_off_after (PoolOptions; 0.5 ms by default), or 7 mean holds if longer, 10 x
  // hand_off_after at most. While one is (and a younger one waits) it may instead
  // keep the object for this thread's next Get, at most 2 times in a row and within 1 ms of this
  // thread's last wait (README, "Guarantees"). Waiters not yet due share one condition
  // variable, on which glibc may make this Put wait until the waiters that earlier Puts woke have
  // run; with hand_off_after 0 every waiter is due at once, and no Put waits for a waiter.
  void Put(Lease<T>&& lease) {
    CheckOwnLease(lease);
    lease.End();
  }
  // Closes the object; its slot is free again. Throws like Put.
  void Discard(Lease<T>&& lease) {
    CheckOwnLease(lease);
    lease.MarkBroken();
    lease.End();
  }

  // Shuts the pool down: closes the idle objects, wakes every waiter with PoolClosedError, makes
  // later Gets throw it, and closes objects returned afterwards. Idempotent. Like Put, it may
  // wait until the waiters not yet due that earlier Puts woke have run (glibc).
  void Release() { core_->Release(); }
  // Takes the pool's series out of its MetricsRegistry now (a Render under way finishes first),
  // so that a pool replacing this one can register under the same name and endpoint; the pool
  // itself works on. Without metrics_name, or called again, it does nothing. Do not call it
  // while another thread destroys the pool.
  void UnregisterMetrics() { core_->UnregisterMetrics(); }

  // Idle objects now.
  std::size_t Len() const { return core_->IdleCount(); }
  PoolStats Stats() const { return core_->Stats(); }
  const PoolOptions& options() const { return core_->options(); }

 private:
  class Hooks final : public internal::ObjectHooks {
   public:
    Hooks(Factory factory, Closer closer, Pinger take_out, Pinger keepalive)
        : factory_(std::move(factory)),
          closer_(std::move(closer)),
          take_out_(std::move(take_out)),
          keepalive_(std::move(keepalive)) {}
    void* Create() override {
      std::unique_ptr<T> object = factory_();
      if (object == nullptr) throw std::runtime_error("thriftpool: factory returned nullptr");
      return object.release();
    }
    bool Close(void* object) noexcept override {
      std::unique_ptr<T> owned(static_cast<T*>(object));
      try {
        closer_(*owned);
        return true;
      } catch (...) {
        return false;
      }
    }
    bool CheckOnTakeOut(void* object) noexcept override { return Check(take_out_, object); }
    bool CheckWhileIdle(void* object) noexcept override { return Check(keepalive_, object); }
    bool HasTakeOutCheck() const override { return static_cast<bool>(take_out_); }
    bool HasKeepaliveCheck() const override { return static_cast<bool>(keepalive_); }

   private:
    static bool Check(const Pinger& pinger, void* object) noexcept {
      try {
        return pinger(*static_cast<T*>(object));
      } catch (...) {
        return false;
      }
    }
    const Factory factory_;
    const Closer closer_;
    const Pinger take_out_;
    const Pinger keepalive_;
  };

  static internal::PoolCore* MakeCore(const PoolOptions& options, Factory factory, Closer closer,
                                      Pinger take_out, Pinger keepalive) {
    ValidatePoolOptions(options);
    if (!factory) throw std::invalid_argument("thriftpool: factory is required");
    if (!closer) throw std::invalid_argument("thriftpool: closer is required");
    return new internal::PoolCore(
        options, std::make_unique<Hooks>(std::move(factory), std::move(closer), std::move(take_out),
                                         std::move(keepalive)));
  }

  void CheckOwnLease(const Lease<T>& lease) const {
    if (!lease) throw std::invalid_argument("thriftpool: lease is empty (returned or moved from)");
    if (lease.core_ != core_) throw std::invalid_argument("thriftpool: lease is from another pool");
  }

  // Owned through Abandon(): it outlives this pool while leases are out.
  internal::PoolCore* const core_;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_CHANNEL_POOL_H_
