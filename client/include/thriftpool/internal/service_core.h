// ServiceCore: the part of ServicePool that does not depend on the generated client: the endpoint
// set, the balancer, failure accounting, ejection and the background probe.
#ifndef THRIFTPOOL_INTERNAL_SERVICE_CORE_H_
#define THRIFTPOOL_INTERNAL_SERVICE_CORE_H_

#include <thriftpool/endpoint.h>
#include <thriftpool/internal/snapshot_cell.h>
#include <thriftpool/pool_stats.h>
#include <thriftpool/service_pool_options.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace thriftpool {

// One endpoint's figures (ServicePool::Stats).
struct EndpointStats {
  Endpoint endpoint;
  bool ejected = false;
  std::int64_t in_flight = 0;  // attempts running on it now
  std::uint64_t calls = 0;     // attempts made on it (a retried call counts once per endpoint)
  std::uint64_t failures = 0;  // connection-level failures (connects, transport, protocol)
  std::uint64_t ejections = 0;
  double latency_average_us = 0;  // decaying average of successful attempts
  PoolStats pool;                 // its current connection pool (a new one after re-admission)
};

namespace internal {

// One endpoint's connection pool, as the core sees it.
class EndpointPool {
 public:
  virtual ~EndpointPool() = default;
  // Closes the idle connections and those returned later; Gets then throw PoolClosedError.
  virtual void Release() = 0;
  // Takes its series out of the metrics registry (ChannelPool::UnregisterMetrics), so that a
  // pool replacing it can register under the same endpoint label.
  virtual void UnregisterMetrics() = 0;
  virtual PoolStats Stats() const = 0;
};

// One endpoint's load and health, and its connection pool. An endpoint that is re-admitted after
// an ejection gets a new EndpointState (with a new pool) that carries the figures over; the old
// one, like one removed from the set, is retired and freed once no attempt runs on it.
struct EndpointState {
  EndpointState(const Endpoint& endpoint, std::shared_ptr<EndpointPool> pool)
      : host(endpoint.host), port(endpoint.port), pool(std::move(pool)) {
    weight.store(endpoint.weight, std::memory_order_relaxed);
  }
  Endpoint endpoint() const { return {host, port, weight.load(std::memory_order_relaxed)}; }

  // Written by every attempt on this endpoint: together on one cache line of their own.
  struct alignas(64) Hot {
    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::uint64_t> calls{0};
    std::atomic<int> consecutive_failures{0};
    std::atomic<std::int64_t> latency_average_ns{0};
    // When the average last took a sample (CoarseClock, ns since its epoch).
    std::atomic<std::int64_t> latency_sampled_ns{0};
    // Samples since the average was last forgotten, counted up to ServiceCore::kLatencyWarmUp.
    std::atomic<int> latency_samples{0};
  } hot;
  alignas(64) std::atomic<int> weight{1};
  std::atomic<bool> ejected{false};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> ejections{0};
  const std::string host;
  const int port;
  const std::shared_ptr<EndpointPool> pool;

  std::chrono::milliseconds backoff{0};  // guarded by mu_: the wait before the next probe
  std::chrono::steady_clock::time_point next_probe;  // guarded by mu_
};

// The endpoint chosen for one attempt: counts as in flight on it while it lives, and keeps it
// from being freed. Move-only.
class Pick {
 public:
  Pick() = default;
  // Only inside a read of the endpoint set (ServiceCore::Choose).
  explicit Pick(EndpointState* state);
  Pick(Pick&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Pick& operator=(Pick&& other) noexcept;
  ~Pick() { Leave(); }

  EndpointState& state() const { return *state_; }
  EndpointPool& pool() const { return *state_->pool; }

 private:
  void Leave() noexcept;
  EndpointState* state_ = nullptr;
};

// Thread-safety: every member function may be called from any thread at once. Choose and the
// Record functions take no lock shared by all endpoints (ejecting one takes mu_).
class ServiceCore {
 public:
  // An endpoint whose latency average took no sample for this long has an unknown latency again,
  // so that one the balancer avoided for being slow gets calls now and then to show it recovered.
  static constexpr std::chrono::seconds kLatencyForgotten{1};
  // A latency stays unknown until this many samples came in, and the average starts from the
  // fastest of them: the first calls after a pause run far slower than the replica is (they wake
  // its threads), and an average begun on one of them kept an identical replica avoided for good.
  static constexpr int kLatencyWarmUp = 8;
  // How often the probe thread frees retired endpoints when no probe is due sooner.
  static constexpr std::chrono::milliseconds kRetiredSweep{200};

  // Makes a connection pool for an endpoint (never connects).
  using PoolFactory = std::function<std::shared_ptr<EndpointPool>(const Endpoint&)>;
  // Connects to an ejected endpoint and checks the connection: true re-admits it. Must not throw.
  using Prober = std::function<bool(const Endpoint&)>;

  // Throws std::invalid_argument for bad options. Starts the background probe thread when
  // ejection is on.
  ServiceCore(const ServicePoolOptions& options, PoolFactory make_pool, Prober probe);
  ~ServiceCore();
  ServiceCore(const ServiceCore&) = delete;
  ServiceCore& operator=(const ServiceCore&) = delete;

  // Replaces the endpoint set: new endpoints get a pool, endpoints still listed keep theirs (and
  // their figures; a new weight applies), removed ones get no new calls (their calls in flight
  // finish; their pool closes its connections once none runs, within kRetiredSweep of the last
  // one). The same host:port listed twice is one
  // endpoint (the first weight counts). Throws std::invalid_argument naming a bad endpoint,
  // before changing anything; PoolClosedError after Release.
  void Update(const std::vector<Endpoint>& endpoints);

  // The endpoint for the next attempt of a call that already tried `tried`: one not tried and not
  // ejected when there is one; else one not ejected; else any. O(1) in the number of endpoints
  // unless most are ejected or tried. Throws NoEndpointError for an empty set, PoolClosedError
  // after Release.
  Pick Choose(const std::vector<const EndpointState*>& tried);

  // An answer came back on `pick` (latency < 0: unmeasured, e.g. a lease ended unbroken).
  void RecordSuccess(const Pick& pick, std::chrono::nanoseconds latency);
  // A connection-level failure on `pick`; enough of them in a row eject its endpoint.
  void RecordFailure(const Pick& pick);

  std::vector<EndpointStats> Stats() const;
  std::size_t size() const;
  // Stops the probe thread and releases every endpoint's pool; Choose then throws
  // PoolClosedError. Idempotent.
  void Release();

 private:
  using EndpointSet = std::vector<std::shared_ptr<EndpointState>>;

  Pick ChooseIn(const EndpointSet& set, const std::vector<const EndpointState*>& tried);
  std::size_t EjectedCountLocked() const;
  void ProbeLoop();
  // Puts `next` in the place of `current` in the set (Readmit) or installs a new set (Update);
  // the states that left it are retired. Holds update_mu_.
  void InstallLocked(std::unique_ptr<const EndpointSet> next);
  // Frees retired states that no attempt runs on any more.
  void FreeRetired();
  void Readmit(const std::shared_ptr<EndpointState>& state);

  const ServicePoolOptions options_;
  const PoolFactory make_pool_;
  const Prober probe_;
  SnapshotCell<EndpointSet> set_;
  std::atomic<std::uint64_t> round_robin_{0};
  std::atomic<bool> released_{false};

  // Serializes the builders of new endpoint sets (Update, Readmit); held across the grace period.
  std::mutex update_mu_;
  // States that left the set, until no attempt runs on them; guarded by update_mu_.
  std::vector<std::shared_ptr<EndpointState>> retired_;
  // Guards ejection decisions, the probe schedule (EndpointState's guarded fields) and stop_.
  mutable std::mutex mu_;
  std::condition_variable probe_cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread prober_;
};

}  // namespace internal
}  // namespace thriftpool

#endif  // THRIFTPOOL_INTERNAL_SERVICE_CORE_H_
