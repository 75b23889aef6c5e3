#include <glog/logging.h>
#include <thriftpool/internal/coarse_clock.h>
#include <thriftpool/internal/service_core.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace thriftpool::internal {
namespace {

using internal::CoarseClock;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// How many pairs P2C draws before it scans for any usable endpoint.
constexpr int kDraws = 3;

// xorshift64*, one generator per thread: the balancer's draws take no lock and share no line.
std::uint64_t NextRandom() {
  thread_local std::uint64_t x =
      0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^
      (static_cast<std::uint64_t>(ThisThreadShard(1u << 20)) << 40);
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 0x2545F4914F6CDD1Dull;
}

bool Contains(const std::vector<const EndpointState*>& tried, const EndpointState* state) {
  return std::find(tried.begin(), tried.end(), state) != tried.end();
}

constexpr std::int64_t kUnknown = -1;
// A sample counts as at most this many times the average, so that one call stalled by a
// preemption raises it by 1/8 at most, while a replica that turns slow is still seen within
// a dozen calls.
constexpr std::int64_t kMostSampleToAverage = 2;

// Whether the latency average took no sample for kLatencyForgotten.
bool Forgotten(const EndpointState& state, std::int64_t now_ns) {
  const std::int64_t sampled = state.hot.latency_sampled_ns.load(std::memory_order_relaxed);
  return now_ns - sampled > std::chrono::nanoseconds(ServiceCore::kLatencyForgotten).count();
}

// The latency average, or kUnknown when it is forgotten or took fewer than kLatencyWarmUp samples
// since.
std::int64_t LatencyOf(const EndpointState& state, std::int64_t now_ns) {
  if (Forgotten(state, now_ns) ||
      state.hot.latency_samples.load(std::memory_order_relaxed) < ServiceCore::kLatencyWarmUp) {
    return kUnknown;
  }
  return state.hot.latency_average_ns.load(std::memory_order_relaxed);
}

// The expected wait on an endpoint, in units comparable only with another endpoint's: (calls in
// flight + 1) x latency average, times the other's weight. An endpoint of unknown latency costs
// nothing while idle and the most while busy, so it takes one call at a time until it is known
// (Finagle's peak EWMA does the same): calls do not pile onto a replica that may be slow.
std::int64_t CostOf(const EndpointState& state, std::int64_t latency_ns,
                    const EndpointState& other) {
  const std::int64_t in_flight = state.hot.in_flight.load(std::memory_order_relaxed);
  if (latency_ns == kUnknown) {
    return in_flight == 0 ? 0 : std::numeric_limits<std::int64_t>::max();
  }
  // Latencies in microseconds (at least 1) keep the product far from overflow.
  return (in_flight + 1) * std::max<std::int64_t>(1, latency_ns / 1000) *
         other.weight.load(std::memory_order_relaxed);
}

// The endpoint that would answer sooner: the lower cost. With equal latencies that is the fewer
// calls in flight per unit of weight; at equal loads, the lower latency. A slow endpoint that is
// idle therefore does not win against a fast one that is busy (which plain
// fewest-calls-in-flight lets it do, so that a replica 10x slower still got 7% of the calls and
// set the p99).
bool LessLoaded(const EndpointState& a, const EndpointState& b) {
  const std::int64_t now_ns = CoarseClock::Now().time_since_epoch().count();
  const std::int64_t latency_a = LatencyOf(a, now_ns);
  const std::int64_t latency_b = LatencyOf(b, now_ns);
  const std::int64_t cost_a = CostOf(a, latency_a, b);
  const std::int64_t cost_b = CostOf(b, latency_b, a);
  if (cost_a != cost_b) return cost_a < cost_b;
  return latency_a <= latency_b;
}

std::string Key(const std::string& host, int port) { return host + "\n" + std::to_string(port); }

}  // namespace

Pick::Pick(EndpointState* state) : state_(state) {
  state_->hot.in_flight.fetch_add(1, std::memory_order_relaxed);
  state_->hot.calls.fetch_add(1, std::memory_order_relaxed);
}

Pick& Pick::operator=(Pick&& other) noexcept {
  if (this != &other) {
    Leave();
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

void Pick::Leave() noexcept {
  // Release: a retired state is freed once this reaches 0, after everything this attempt did.
  if (state_ != nullptr) state_->hot.in_flight.fetch_sub(1, std::memory_order_release);
  state_ = nullptr;
}

ServiceCore::ServiceCore(const ServicePoolOptions& options, PoolFactory make_pool, Prober probe)
    : options_(options),
      make_pool_(std::move(make_pool)),
      probe_(std::move(probe)),
      set_(std::make_unique<const EndpointSet>()) {
  ValidateServicePoolOptions(options_);
  if (!make_pool_ || !probe_)
    throw std::invalid_argument("ServiceCore: missing pool factory or probe");
  prober_ = std::thread([this] { ProbeLoop(); });
}

ServiceCore::~ServiceCore() { Release(); }

void ServiceCore::Update(const std::vector<Endpoint>& endpoints) {
  for (const Endpoint& endpoint : endpoints) ValidateEndpoint(endpoint);
  std::lock_guard<std::mutex> lock(update_mu_);
  if (released_.load(std::memory_order_acquire)) throw PoolClosedError("ServicePool: released");
  std::unordered_map<std::string, std::shared_ptr<EndpointState>> current;
  set_.Read([&](const EndpointSet& set) {
    for (const auto& state : set) current.emplace(Key(state->host, state->port), state);
  });
  auto next = std::make_unique<EndpointSet>();
  std::unordered_set<std::string> seen;
  for (const Endpoint& endpoint : endpoints) {
    const std::string key = Key(endpoint.host, endpoint.port);
    if (!seen.insert(key).second) continue;  // listed twice: one endpoint
    const auto found = current.find(key);
    if (found != current.end()) {
      found->second->weight.store(endpoint.weight, std::memory_order_relaxed);
      next->push_back(found->second);
    } else {
      next->push_back(std::make_shared<EndpointState>(endpoint, make_pool_(endpoint)));
    }
  }
  InstallLocked(std::move(next));
}

void ServiceCore::InstallLocked(std::unique_ptr<const EndpointSet> next) {
  std::unordered_set<const EndpointState*> staying;
  for (const auto& state : *next) staying.insert(state.get());
  std::unique_ptr<const EndpointSet> previous = set_.Replace(std::move(next));
  for (const auto& state : *previous) {
    if (staying.count(state.get()) != 0) continue;
    // Not released here: an attempt that chose it just before may still take a connection from
    // its pool and finish its call. Its connections close when FreeRetired destroys the pool,
    // once nothing runs on it. Its series leave /metrics now, so that it can come back.
    state->pool->UnregisterMetrics();
    retired_.push_back(state);
  }
}

void ServiceCore::FreeRetired() {
  std::vector<std::shared_ptr<EndpointState>> done;
  {
    std::lock_guard<std::mutex> lock(update_mu_);
    // Acquire pairs with Pick::Leave: every attempt on a state has finished before it goes.
    const auto idle = [](const std::shared_ptr<EndpointState>& state) {
      return state->hot.in_flight.load(std::memory_order_acquire) == 0;
    };
    const auto split = std::stable_partition(retired_.begin(), retired_.end(),
                                             [&](const auto& s) { return !idle(s); });
    std::move(split, retired_.end(), std::back_inserter(done));
    retired_.erase(split, retired_.end());
  }
  // Pools are destroyed here, outside the lock (a pool's destructor may close connections).
}

Pick ServiceCore::Choose(const std::vector<const EndpointState*>& tried) {
  if (released_.load(std::memory_order_acquire)) throw PoolClosedError("ServicePool: released");
  return set_.Read([&](const EndpointSet& set) { return ChooseIn(set, tried); });
}

Pick ServiceCore::ChooseIn(const EndpointSet& set, const std::vector<const EndpointState*>& tried) {
  const std::size_t n = set.size();
  if (n == 0)
    throw NoEndpointError("ServicePool: no endpoints to call (the endpoint set is empty)");
  if (n == 1) return Pick(set[0].get());
  const auto usable = [&](const EndpointState& state) {
    return !state.ejected.load(std::memory_order_relaxed) && !Contains(tried, &state);
  };
  if (options_.balancer == BalancerKind::kPowerOfTwoChoices) {
    for (int draw = 0; draw < kDraws; ++draw) {
      const std::size_t a = NextRandom() % n;
      std::size_t b = NextRandom() % (n - 1);
      if (b >= a) ++b;
      EndpointState& first = *set[a];
      EndpointState& second = *set[b];
      const bool first_usable = usable(first);
      const bool second_usable = usable(second);
      if (first_usable && second_usable) {
        return Pick(LessLoaded(first, second) ? &first : &second);
      }
      if (first_usable) return Pick(&first);
      if (second_usable) return Pick(&second);
    }
  }
  // Round-robin, or P2C when its draws found nothing usable (most endpoints ejected or tried).
  const std::size_t start = options_.balancer == BalancerKind::kRoundRobin
                                ? round_robin_.fetch_add(1, std::memory_order_relaxed) % n
                                : NextRandom() % n;
  for (std::size_t i = 0; i < n; ++i) {
    EndpointState& state = *set[(start + i) % n];
    if (usable(state)) return Pick(&state);
  }
  // Everything is ejected or tried: a retry goes back to an endpoint that is in, if any.
  for (std::size_t i = 0; i < n; ++i) {
    EndpointState& state = *set[(start + i) % n];
    if (!state.ejected.load(std::memory_order_relaxed)) return Pick(&state);
  }
  return Pick(set[start].get());
}

void ServiceCore::RecordSuccess(const Pick& pick, std::chrono::nanoseconds latency) {
  EndpointState& state = pick.state();
  // Read first: a healthy endpoint's line is then only read here, not written.
  if (state.hot.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    state.hot.consecutive_failures.store(0, std::memory_order_relaxed);
  }
  if (latency.count() < 0) return;
  // A decaying average with weight 1/8 for the newest sample (TCP's smoothed RTT); racing
  // updates may lose a sample, which an average can afford.
  const std::int64_t now_ns = CoarseClock::Now().time_since_epoch().count();
  const std::int64_t sample = latency.count();
  const int samples =
      Forgotten(state, now_ns) ? 0 : state.hot.latency_samples.load(std::memory_order_relaxed);
  const std::int64_t average = state.hot.latency_average_ns.load(std::memory_order_relaxed);
  if (samples < kLatencyWarmUp) {
    // Warming up: the fastest sample so far.
    state.hot.latency_samples.store(samples + 1, std::memory_order_relaxed);
    state.hot.latency_average_ns.store(samples == 0 ? sample : std::min(average, sample),
                                       std::memory_order_relaxed);
  } else {
    const std::int64_t clamped = std::min(sample, average * kMostSampleToAverage);
    state.hot.latency_average_ns.store(average + (clamped - average) / 8,
                                       std::memory_order_relaxed);
  }
  state.hot.latency_sampled_ns.store(now_ns, std::memory_order_relaxed);
}

void ServiceCore::RecordFailure(const Pick& pick) {
  EndpointState& state = pick.state();
  state.failures.fetch_add(1, std::memory_order_relaxed);
  const int in_a_row = state.hot.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const int threshold = options_.ejection.consecutive_failures;
  if (threshold == 0 || in_a_row < threshold || state.ejected.load(std::memory_order_relaxed)) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state.ejected.load(std::memory_order_relaxed) || stop_) return;
    const std::size_t allowed = static_cast<std::size_t>(
        std::floor(options_.ejection.max_ejected_share * static_cast<double>(size())));
    if (EjectedCountLocked() >= allowed) return;
    state.ejected.store(true, std::memory_order_relaxed);
    state.ejections.fetch_add(1, std::memory_order_relaxed);
    state.backoff = options_.ejection.base_backoff;
    state.next_probe = Clock::now() + state.backoff;
  }
  probe_cv_.notify_all();
  LOG(WARNING) << "ServicePool: ejected " << ToString(state.endpoint()) << " after " << in_a_row
               << " connection-level failures in a row; probing it again in "
               << options_.ejection.base_backoff.count() << " ms";
  // Its idle connections close now; those in use close as they come back.
  state.pool->Release();
}

std::size_t ServiceCore::EjectedCountLocked() const {
  return set_.Read([](const EndpointSet& set) {
    return static_cast<std::size_t>(std::count_if(set.begin(), set.end(), [](const auto& state) {
      return state->ejected.load(std::memory_order_relaxed);
    }));
  });
}

std::size_t ServiceCore::size() const {
  return set_.Read([](const EndpointSet& set) { return set.size(); });
}

void ServiceCore::ProbeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // The ejected endpoints whose probe is due, and when the next one will be.
    std::vector<std::shared_ptr<EndpointState>> due;
    Clock::time_point wake = Clock::now() + kRetiredSweep;
    const Clock::time_point now = Clock::now();
    set_.Read([&](const EndpointSet& set) {
      for (const auto& state : set) {
        if (!state->ejected.load(std::memory_order_relaxed)) continue;
        if (state->next_probe <= now) {
          due.push_back(state);
        } else {
          wake = std::min(wake, state->next_probe);
        }
      }
    });
    if (due.empty()) {
      probe_cv_.wait_until(lock, wake);
      lock.unlock();
      FreeRetired();
      lock.lock();
      continue;
    }
    lock.unlock();
    for (const auto& state : due) {
      const Endpoint endpoint = state->endpoint();
      if (probe_(endpoint)) {
        Readmit(state);
        LOG(WARNING) << "ServicePool: re-admitted " << ToString(endpoint) << " after a good probe";
        continue;
      }
      std::lock_guard<std::mutex> relock(mu_);
      state->backoff = std::min(state->backoff * 2, options_.ejection.max_backoff);
      state->next_probe = Clock::now() + state->backoff;
    }
    lock.lock();
  }
}

void ServiceCore::Readmit(const std::shared_ptr<EndpointState>& old_state) {
  std::lock_guard<std::mutex> lock(update_mu_);
  if (released_.load(std::memory_order_acquire)) return;
  const Endpoint endpoint = old_state->endpoint();
  old_state->pool->UnregisterMetrics();  // its series go to the fresh pool
  auto fresh = std::make_shared<EndpointState>(endpoint, make_pool_(endpoint));
  fresh->hot.calls.store(old_state->hot.calls.load(std::memory_order_relaxed));
  fresh->hot.latency_average_ns.store(old_state->hot.latency_average_ns.load());
  fresh->failures.store(old_state->failures.load(std::memory_order_relaxed));
  fresh->ejections.store(old_state->ejections.load(std::memory_order_relaxed));
  auto next = std::make_unique<EndpointSet>();
  bool present = false;
  set_.Read([&](const EndpointSet& set) {
    for (const auto& state : set) {
      present = present || state == old_state;
      next->push_back(state == old_state ? fresh : state);
    }
  });
  if (present) InstallLocked(std::move(next));  // else Update removed it meanwhile
}

std::vector<EndpointStats> ServiceCore::Stats() const {
  std::vector<EndpointStats> stats;
  set_.Read([&](const EndpointSet& set) {
    for (const auto& state : set) {
      EndpointStats s;
      s.endpoint = state->endpoint();
      s.ejected = state->ejected.load(std::memory_order_relaxed);
      s.in_flight = state->hot.in_flight.load(std::memory_order_relaxed);
      s.calls = state->hot.calls.load(std::memory_order_relaxed);
      s.failures = state->failures.load(std::memory_order_relaxed);
      s.ejections = state->ejections.load(std::memory_order_relaxed);
      s.latency_average_us =
          static_cast<double>(state->hot.latency_average_ns.load(std::memory_order_relaxed)) /
          1000.0;
      s.pool = state->pool->Stats();
      stats.push_back(std::move(s));
    }
  });
  return stats;
}

void ServiceCore::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  probe_cv_.notify_all();
  if (prober_.joinable()) prober_.join();
  std::lock_guard<std::mutex> lock(update_mu_);
  released_.store(true, std::memory_order_release);
  InstallLocked(std::make_unique<const EndpointSet>());
  // Leases still out stay usable; their connections close as they come back.
  for (const auto& state : retired_) state->pool->Release();
}

}  // namespace thriftpool::internal
