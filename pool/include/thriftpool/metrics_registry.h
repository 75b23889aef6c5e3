// MetricsRegistry: the pools a process has registered (PoolOptions::metrics_name), and their
// metrics in the Prometheus text exposition format 0.0.4 (README.md, "Metrics", lists the series).
//
//   thriftpool::PoolOptions options;
//   options.metrics_name = "users";     // the pool registers itself in MetricsRegistry::Default()
//   ...
//   std::string body = thriftpool::MetricsRegistry::Default().Render();  // serve at GET /metrics
#ifndef THRIFTPOOL_METRICS_REGISTRY_H_
#define THRIFTPOOL_METRICS_REGISTRY_H_

#include <thriftpool/pool_stats.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>

namespace thriftpool {

// Upper bounds, in seconds, of the buckets of every histogram the pools export (then +Inf): from
// a loopback call (50 us) to a stuck one (10 s).
inline constexpr std::array<double, 17> kHistogramBounds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

// A histogram's counts at one moment.
struct HistogramSnapshot {
  // Observations per bucket (not cumulative): buckets[i] counts those in
  // (kHistogramBounds[i-1], kHistogramBounds[i]]; the last one those above 10 s.
  std::array<std::uint64_t, kHistogramBounds.size() + 1> buckets{};
  double sum_seconds = 0;
};

// What a ChannelPool reports. The gauges and counters are PoolStats (one consistent snapshot).
struct PoolMetrics {
  PoolStats stats;
  HistogramSnapshot acquire;   // time in a Get that returned a connection
  HistogramSnapshot usage;     // time from a Get's return to the lease's end
  HistogramSnapshot creation;  // time of the factory calls that succeeded (the connects)
};

// How a call through a pool of RPC clients ended (ThriftClientPool::Call): its last attempt's
// outcome, or kNoConnection when it got no connection (Get timed out, the pool was released, or
// the connect failed).
enum class CallOutcome {
  kOk,
  kDeclaredException,
  kApplicationError,
  kTransportError,
  kProtocolError,
  kOtherError,
  kNoConnection,
};
inline constexpr std::size_t kCallOutcomes = 7;

// What a pool of RPC clients adds to its PoolMetrics.
struct CallMetrics {
  std::array<std::uint64_t, kCallOutcomes> calls{};  // by CallOutcome
  std::uint64_t retries = 0;
  std::uint64_t retries_denied = 0;
  HistogramSnapshot duration;  // whole calls, retries and waiting for a connection included
};

// The pools (and pools of clients) of a process, by name. Render() reads each through the
// function it registered, under the registry's lock; destroying a Registration takes that lock
// too, so it waits for a Render under way and no pool is read once its registration is gone.
// Thread-safety: every member function may be called from any thread at once.
class MetricsRegistry {
 public:
  // The registry pools use unless PoolOptions::metrics_registry names another. Never destroyed.
  static MetricsRegistry& Default();

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  // Every Registration must have ended before.
  ~MetricsRegistry() = default;

  // One registered source; unregisters when destroyed or assigned over. Move-only. Must not be
  // destroyed from within a collect function (that would wait for itself).
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration() { Reset(); }
    // Unregisters now (waiting for a Render that reads this source). Idempotent.
    void Reset() noexcept;

   private:
    friend class MetricsRegistry;
    struct Entry;
    Registration(MetricsRegistry* registry, std::list<Entry>::iterator entry)
        : registry_(registry), entry_(entry) {}
    MetricsRegistry* registry_ = nullptr;
    std::list<Entry>::iterator entry_;
  };

  // Registers a pool's series under the labels pool=`pool` and, unless empty, endpoint=`endpoint`
  // (a pool over many endpoints registers one per endpoint). `collect` fills in a snapshot; it
  // runs under the registry's lock and must not call into the registry. Throws
  // std::invalid_argument if `pool` is empty or these labels are already registered for pools.
  Registration RegisterPool(std::string pool, std::string endpoint,
                            std::function<void(PoolMetrics*)> collect);
  // The same for the call series of a pool of RPC clients (labels as above, checked separately:
  // the client pool and the connection pool under it register the same labels once each).
  Registration RegisterCalls(std::string pool, std::string endpoint,
                             std::function<void(CallMetrics*)> collect);

  // The series of every registered source, in the text exposition format 0.0.4 (Content-Type
  // "text/plain; version=0.0.4"): HELP and TYPE for each family, label values escaped. Families
  // appear even with no source registered (HELP and TYPE only).
  std::string Render() const;

 private:
  Registration Add(Registration::Entry entry);

  mutable std::mutex mu_;  // guards entries_, and is held while collect functions run
  std::list<Registration::Entry> entries_;
};

struct MetricsRegistry::Registration::Entry {
  std::string pool;
  std::string endpoint;
  std::function<void(PoolMetrics*)> collect_pool;   // set for a pool
  std::function<void(CallMetrics*)> collect_calls;  // set for a pool's calls
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_METRICS_REGISTRY_H_
