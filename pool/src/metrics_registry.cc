#include <thriftpool/metrics_registry.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace thriftpool {
namespace {

// `le` of each bound, as written (a double's shortest form would do too; these read better).
constexpr const char* kBoundLabels[] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                        "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
                                        "0.5",   "1",      "2.5",     "5",      "10"};
static_assert(sizeof(kBoundLabels) / sizeof(kBoundLabels[0]) == kHistogramBounds.size());

// The `outcome` label of each CallOutcome, in order.
constexpr const char* kOutcomeNames[kCallOutcomes] = {
    "ok",          "declared_exception", "application_error", "transport_error", "protocol_error",
    "other_error", "no_connection"};

// A label value in the exposition format: backslash, double quote and line feed escaped.
void AppendEscaped(std::string* out, const std::string& value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        *out += "\\\\";
        break;
      case '"':
        *out += "\\\"";
        break;
      case '\n':
        *out += "\\n";
        break;
      default:
        *out += c;
    }
  }
}

void AppendNumber(std::string* out, std::uint64_t value) { *out += std::to_string(value); }

void AppendNumber(std::string* out, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.15g", value);  // to the ns up to 11 days
  *out += buffer;
}

// The labels of one source, rendered once: `pool="..."` and maybe `,endpoint="..."`.
std::string SourceLabels(const std::string& pool, const std::string& endpoint) {
  std::string labels = "pool=\"";
  AppendEscaped(&labels, pool);
  labels += '"';
  if (!endpoint.empty()) {
    labels += ",endpoint=\"";
    AppendEscaped(&labels, endpoint);
    labels += '"';
  }
  return labels;
}

void AppendHeader(std::string* out, const char* name, const char* type, const char* help) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

// One sample: name{labels[,extra]} value.
template <class Value>
void AppendSample(std::string* out, const char* name, const std::string& labels,
                  const std::string& extra, Value value) {
  *out += name;
  *out += '{';
  *out += labels;
  if (!extra.empty()) {
    *out += ',';
    *out += extra;
  }
  *out += "} ";
  AppendNumber(out, value);
  *out += '\n';
}

void AppendHistogram(std::string* out, const std::string& name, const std::string& labels,
                     const HistogramSnapshot& h) {
  const std::string bucket = name + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kHistogramBounds.size(); ++i) {
    cumulative += h.buckets[i];
    AppendSample(out, bucket.c_str(), labels, std::string("le=\"") + kBoundLabels[i] + '"',
                 cumulative);
  }
  cumulative += h.buckets.back();
  AppendSample(out, bucket.c_str(), labels, "le=\"+Inf\"", cumulative);
  AppendSample(out, (name + "_sum").c_str(), labels, "", h.sum_seconds);
  AppendSample(out, (name + "_count").c_str(), labels, "", cumulative);
}

template <class Snapshot>
using Collected = std::vector<std::pair<std::string, Snapshot>>;  // labels, snapshot

void RenderPools(std::string* out, const Collected<PoolMetrics>& pools) {
  AppendHeader(out, "thriftpool_connections", "gauge",
               "Connections by state: idle in the pool, in_use (lent out), creating (connects "
               "under way).");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_connections", labels, "state=\"idle\"",
                 std::uint64_t{m.stats.idle});
    AppendSample(out, "thriftpool_connections", labels, "state=\"in_use\"",
                 std::uint64_t{m.stats.in_use});
    AppendSample(out, "thriftpool_connections", labels, "state=\"creating\"",
                 std::uint64_t{m.stats.creating});
  }
  AppendHeader(out, "thriftpool_connections_max", "gauge",
               "Most connections the pool may have open (max_cap).");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_connections_max", labels, "", std::uint64_t{m.stats.max_cap});
  }
  AppendHeader(out, "thriftpool_waiting_gets", "gauge", "Get calls waiting for a connection now.");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_waiting_gets", labels, "", std::uint64_t{m.stats.waiting});
  }
  AppendHeader(out, "thriftpool_connections_created_total", "counter",
               "Connections created (factory calls that succeeded).");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_connections_created_total", labels, "", m.stats.created);
  }
  AppendHeader(out, "thriftpool_connections_closed_total", "counter",
               "Connections closed, by reason.");
  for (const auto& [labels, m] : pools) {
    const std::pair<const char*, std::uint64_t> reasons[] = {
        {"idle_timeout", m.stats.closed_idle_timeout},
        {"max_lifetime", m.stats.closed_max_lifetime},
        {"max_idle", m.stats.closed_max_idle},
        {"broken", m.stats.closed_broken},
        {"replaced", m.stats.closed_replaced},
        {"released", m.stats.closed_on_release}};
    for (const auto& [reason, count] : reasons) {
      AppendSample(out, "thriftpool_connections_closed_total", labels,
                   std::string("reason=\"") + reason + '"', count);
    }
  }
  AppendHeader(out, "thriftpool_connect_failures_total", "counter",
               "Factory calls (connects) that failed.");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_connect_failures_total", labels, "", m.stats.create_failures);
  }
  AppendHeader(out, "thriftpool_close_errors_total", "counter",
               "Closer calls that threw (the connection is gone all the same).");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_close_errors_total", labels, "", m.stats.close_errors);
  }
  AppendHeader(out, "thriftpool_wait_timeouts_total", "counter",
               "Get calls that ended in PoolTimeoutError.");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_wait_timeouts_total", labels, "", m.stats.wait_timeouts);
  }
  AppendHeader(out, "thriftpool_leaks_detected_total", "counter",
               "Leases held longer than leak_detection_threshold.");
  for (const auto& [labels, m] : pools) {
    AppendSample(out, "thriftpool_leaks_detected_total", labels, "", m.stats.leaks_detected);
  }
  const std::tuple<const char*, const char*, HistogramSnapshot PoolMetrics::*> histograms[] = {
      {"thriftpool_acquire_seconds",
       "Time in Get calls that returned a connection (waiting and connecting included).",
       &PoolMetrics::acquire},
      {"thriftpool_usage_seconds",
       "Time a connection was lent out, from Get's return to the lease's end (resolution: the "
       "coarse clock's, about 4 ms).",
       &PoolMetrics::usage},
      {"thriftpool_connect_seconds", "Time of the factory calls (connects) that succeeded.",
       &PoolMetrics::creation}};
  for (const auto& [name, help, member] : histograms) {
    AppendHeader(out, name, "histogram", help);
    for (const auto& [labels, m] : pools) AppendHistogram(out, name, labels, m.*member);
  }
}

void RenderCalls(std::string* out, const Collected<CallMetrics>& calls) {
  AppendHeader(out, "thriftpool_calls_total", "counter",
               "Calls by outcome: the outcome of their last attempt, or no_connection when Get "
               "failed (timeout, pool released, connect failure).");
  for (const auto& [labels, m] : calls) {
    for (std::size_t i = 0; i < kCallOutcomes; ++i) {
      AppendSample(out, "thriftpool_calls_total", labels,
                   std::string("outcome=\"") + kOutcomeNames[i] + '"', m.calls[i]);
    }
  }
  AppendHeader(out, "thriftpool_retries_total", "counter", "Further attempts made by calls.");
  for (const auto& [labels, m] : calls) {
    AppendSample(out, "thriftpool_retries_total", labels, "", m.retries);
  }
  AppendHeader(out, "thriftpool_retries_denied_total", "counter",
               "Retries the retry budget refused (the failure reached the caller).");
  for (const auto& [labels, m] : calls) {
    AppendSample(out, "thriftpool_retries_denied_total", labels, "", m.retries_denied);
  }
  AppendHeader(out, "thriftpool_call_duration_seconds", "histogram",
               "Duration of whole calls: waiting for a connection and retries included.");
  for (const auto& [labels, m] : calls) {
    AppendHistogram(out, "thriftpool_call_duration_seconds", labels, m.duration);
  }
}

}  // namespace

MetricsRegistry& MetricsRegistry::Default() {
  static auto* registry = new MetricsRegistry;  // never destroyed: pools may outlive statics
  return *registry;
}

MetricsRegistry::Registration::Registration(Registration&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), entry_(other.entry_) {}

MetricsRegistry::Registration& MetricsRegistry::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    entry_ = other.entry_;
  }
  return *this;
}

void MetricsRegistry::Registration::Reset() noexcept {
  MetricsRegistry* registry = std::exchange(registry_, nullptr);
  if (registry == nullptr) return;
  std::list<Entry> removed;
  {
    std::lock_guard<std::mutex> lock(registry->mu_);
    removed.splice(removed.begin(), registry->entries_, entry_);
  }
  // `removed` (and the collect function's captures) is destroyed here, without the lock.
}

MetricsRegistry::Registration MetricsRegistry::Add(Registration::Entry entry) {
  if (entry.pool.empty()) {
    throw std::invalid_argument("thriftpool: a metrics pool name must not be empty");
  }
  const bool is_pool = static_cast<bool>(entry.collect_pool);
  std::lock_guard<std::mutex> lock(mu_);
  for (const Registration::Entry& e : entries_) {
    if (e.pool == entry.pool && e.endpoint == entry.endpoint &&
        static_cast<bool>(e.collect_pool) == is_pool) {
      throw std::invalid_argument(
          "thriftpool: metrics for pool \"" + entry.pool + "\"" +
          (entry.endpoint.empty() ? "" : " endpoint \"" + entry.endpoint + "\"") +
          " are already registered");
    }
  }
  entries_.push_back(std::move(entry));
  return Registration(this, std::prev(entries_.end()));
}

MetricsRegistry::Registration MetricsRegistry::RegisterPool(
    std::string pool, std::string endpoint, std::function<void(PoolMetrics*)> collect) {
  return Add({std::move(pool), std::move(endpoint), std::move(collect), nullptr});
}

MetricsRegistry::Registration MetricsRegistry::RegisterCalls(
    std::string pool, std::string endpoint, std::function<void(CallMetrics*)> collect) {
  return Add({std::move(pool), std::move(endpoint), nullptr, std::move(collect)});
}

std::string MetricsRegistry::Render() const {
  // Collected under the lock (no source may go away meanwhile), written without it.
  using Key = std::pair<std::string, std::string>;
  std::vector<std::pair<Key, PoolMetrics>> pools;
  std::vector<std::pair<Key, CallMetrics>> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Registration::Entry& e : entries_) {
      if (e.collect_pool) {
        pools.emplace_back(Key{e.pool, e.endpoint}, PoolMetrics{});
        e.collect_pool(&pools.back().second);
      } else {
        calls.emplace_back(Key{e.pool, e.endpoint}, CallMetrics{});
        e.collect_calls(&calls.back().second);
      }
    }
  }
  // Sorted by labels, so that a source's lines keep their place from one scrape to the next.
  const auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::sort(pools.begin(), pools.end(), by_key);
  std::sort(calls.begin(), calls.end(), by_key);
  Collected<PoolMetrics> pool_series;
  for (auto& [key, m] : pools) pool_series.emplace_back(SourceLabels(key.first, key.second), m);
  Collected<CallMetrics> call_series;
  for (auto& [key, m] : calls) call_series.emplace_back(SourceLabels(key.first, key.second), m);

  std::string out;
  out.reserve(4096 + 8192 * (pools.size() + calls.size()));
  RenderPools(&out, pool_series);
  RenderCalls(&out, call_series);
  return out;
}

}  // namespace thriftpool
