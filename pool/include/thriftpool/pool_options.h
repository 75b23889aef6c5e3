// PoolOptions: the limits and timings of a ChannelPool.
#ifndef THRIFTPOOL_POOL_OPTIONS_H_
#define THRIFTPOOL_POOL_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <string>

namespace thriftpool {

class MetricsRegistry;

// Every duration of 0 means "off"; a duration longer than 100 years counts as 100 years
// ("practically forever": milliseconds::max() is fine). Durations are checked with a clock of a
// few milliseconds' resolution. A Get never hands out a connection past idle_timeout or
// max_lifetime, checked when it is handed out (after the take-out pinger, however long that
// took); the check may act up to 10 ms early (the coarse clock's resolution plus a margin for
// its lag under load), never late. Idle connections that expire while nobody asks are closed by
// the background upkeep on its next tick (half the shortest period set, within 5 ms..1 s), so
// they may linger idle that much past their expiry.
struct PoolOptions {
  // Connections the pool's constructor opens (its factory errors propagate). At most max_idle.
  std::size_t initial_cap = 0;
  // Idle connections kept; a connection returned while max_idle are idle is closed. Below max_cap,
  // Get and Put take the pool's lock (see ChannelPool's "Cost").
  std::size_t max_idle = 8;
  // Open connections at most: idle + lent out + being created. At least 1.
  std::size_t max_cap = 8;
  // An idle connection unused this long (since its last return) is closed, never handed out.
  std::chrono::milliseconds idle_timeout{0};
  // A connection this old (since its creation) is closed, never handed out. Each connection's
  // lifetime is cut by a random part of up to lifetime_jitter, so they do not all expire at once.
  std::chrono::milliseconds max_lifetime{0};
  // How long Get waits when max_cap connections are open and none is idle.
  std::chrono::milliseconds wait_timeout{5000};
  // How long running threads may take returned connections ahead of a waiting Get before the
  // waiter is due: then returns are handed to the oldest due waiter (after a returner's short
  // turn: README.md, "Guarantees"). Where calls hold their connection long, a wait of a few calls
  // is queueing, not being passed over: a waiter is then due after 7 times the pool's mean hold
  // (timed under contention) if that is longer, but never after more than 10 x hand_off_after
  // (5 ms by default). Shorter: a shorter tail of waits, paid with wake-ups. 0: every waiter is
  // due at once (strict FIFO, a wake-up per contended Get, and no Put ever waits for a waiter
  // that glibc's condition variable woke earlier: ChannelPool::Put); the 100-year cap: never due
  // (waiters are woken as in a hand-written pool, and may be passed over until wait_timeout).
  // Microseconds, unlike the other durations.
  std::chrono::microseconds hand_off_after{500};

  // Background upkeep (one thread per pool, only when one of these or the timeouts above is set).
  // Idle connections kept ready, created in the background with back-off on failures. At most
  // max_idle. Above 0, Get and Put take the pool's lock while fewer than max_cap connections
  // exist (see ChannelPool's "Cost").
  std::size_t min_idle = 0;
  // Idle connections not checked for this long are checked in the background (keepalive pinger),
  // so a connection that died while idle is replaced before a caller meets it.
  std::chrono::milliseconds keepalive_interval{0};

  // Take-out check: a connection returned or checked less than this long ago is handed out
  // without calling the pinger, so a busy pool makes no check (for ThriftClientPool: no system
  // call) per Get; HikariCP skips validation the same way, with the same 500 ms. A connection
  // that died within the window then fails its call, which ThriftClientPool::Call retries when
  // safe. 0: the pinger runs on every take-out, including connections passed to a waiter.
  std::chrono::milliseconds ping_skip_window{500};
  // Largest part of max_lifetime cut at random per connection, in [0, 0.5].
  double lifetime_jitter = 0.025;

  // Metrics (README.md, "Metrics"). Empty: off, and the pool records nothing. Otherwise the pool
  // records its histograms (time in Get, lease usage, connect time) and registers itself in
  // metrics_registry under this name (the `pool` label) until it is destroyed; its constructor
  // throws std::invalid_argument if that name (with metrics_endpoint) is registered already.
  std::string metrics_name;
  // The `endpoint` label of the pool's series (a pool over many endpoints has one per endpoint);
  // empty: no such label. Only with metrics_name.
  std::string metrics_endpoint;
  // Where the pool registers; nullptr: MetricsRegistry::Default(). Must outlive the pool.
  MetricsRegistry* metrics_registry = nullptr;

  // Leak detection (README.md, "Leak detection"): a lease held longer than this logs a glog
  // WARNING naming the pool, how long, and the file and line of the Get that took it, counts in
  // PoolStats::leaks_detected, and logs again when the lease comes back. Checked by the
  // background upkeep (so within about half the threshold, at most 1 s, of the moment it is
  // passed). 0: off, and nothing is recorded per Get.
  std::chrono::milliseconds leak_detection_threshold{0};
};

// Throws std::invalid_argument naming the offending field when `options` is not usable: max_cap 0,
// initial_cap > max_idle, max_idle > max_cap, min_idle > max_idle, a negative duration, or
// lifetime_jitter outside [0, 0.5], or metrics_endpoint without metrics_name. Any non-negative
// duration is accepted (see above).
void ValidatePoolOptions(const PoolOptions& options);

}  // namespace thriftpool

#endif  // THRIFTPOOL_POOL_OPTIONS_H_
