#include "run_report.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace thriftpool::tool {
namespace {

// Microseconds with one decimal: finer than the histogram's resolution would be noise.
double Micros(std::chrono::nanoseconds value) { return std::round(value.count() / 100.0) / 10.0; }

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

}  // namespace

double RunReport::rps() const {
  const double seconds = load.elapsed.count();
  return seconds > 0 ? load.ok / seconds : 0;
}

void PrintSummary(const RunReport& report, std::ostream& out) {
  const ToolConfig& config = report.config;
  const LoadResult& load = report.load;
  const LatencyHistogram& latency = load.latency;
  out << "user_client: mode " << ToString(config.mode) << ", " << config.threads << " threads, "
      << ToString(config.client.transport) << "/" << ToString(config.client.protocol) << ", server "
      << report.server << (report.embedded_server ? " (embedded)" : "") << "\n";
  out << "  requests       " << load.requests() << " in " << Format("%.3f", load.elapsed.count())
      << " s" << (load.stopped ? " (stopped early)" : "") << "\n";
  out << "  ok             " << load.ok << "  (" << Format("%.0f", report.rps()) << " rps)\n";
  out << "  failed         " << load.failed() << "\n";
  for (const auto& [cause, count] : load.failures_by_cause) {
    out << "    " << cause << ": " << count << "\n";
  }
  out << "  wrong answers  " << load.wrong_answers << "\n";
  if (!load.first_wrong_answer.empty()) out << "    first: " << load.first_wrong_answer << "\n";
  out << "  retries        " << report.connections.retries << "\n";
  out << "  connections    " << report.connections.created << " created, "
      << report.connections.closed << " closed\n";
  out << "  latency (us)   p50 " << Format("%.1f", Micros(latency.Percentile(50))) << "  p90 "
      << Format("%.1f", Micros(latency.Percentile(90))) << "  p99 "
      << Format("%.1f", Micros(latency.Percentile(99))) << "  p99.9 "
      << Format("%.1f", Micros(latency.Percentile(99.9))) << "  max "
      << Format("%.1f", Micros(latency.max())) << "\n";
  if (!report.details.is_object()) return;
  const nlohmann::json& pool = report.details;
  if (config.mode == Mode::kPool) {
    out << "  pool           max_cap " << config.pool.max_cap << ", max_idle "
        << config.pool.max_idle << "; " << pool["wait_count"].get<std::uint64_t>() << " waits ("
        << Format("%.1f", pool["wait_ms_total"].get<double>()) << " ms in all, max "
        << Format("%.2f", pool["wait_ms_max"].get<double>()) << " ms), "
        << pool["closed_broken"].get<std::uint64_t>() << " closed broken, "
        << pool["sequence_mismatches"].get<std::uint64_t>() << " sequence-id mismatches\n";
    if (pool.contains("endpoints")) {
      out << "  balancer       " << ToString(config.service.balancer) << "; "
          << pool["failures"].get<std::uint64_t>() << " connection-level failures, "
          << pool["ejections"].get<std::uint64_t>() << " ejections\n";
      for (const nlohmann::json& e : pool["endpoints"]) {
        out << "  endpoint       " << e["endpoint"].get<std::string>() << "  "
            << Format("%5.1f", 100 * e["share"].get<double>()) << "% of attempts ("
            << e["calls"].get<std::uint64_t>() << "), " << e["failures"].get<std::uint64_t>()
            << " failures, " << e["ejections"].get<std::uint64_t>() << " ejections"
            << (e["ejected"].get<bool>() ? ", ejected now" : "")
            << (e["departed"].get<bool>() ? ", left during the run" : "") << "\n";
      }
    }
  } else if (config.mode == Mode::kHandwritten) {
    // The hand-written pool counts nothing itself; waits show in the latency.
    out << "  pool           handwritten, max_cap " << config.pool.max_cap << "; "
        << pool["closed_broken"].get<std::uint64_t>() << " closed broken\n";
  }
}

nlohmann::json ToJson(const RunReport& report) {
  const ToolConfig& config = report.config;
  const LoadResult& load = report.load;
  const LatencyHistogram& latency = load.latency;
  nlohmann::json json = {
      {"mode", ToString(config.mode)},
      {"transport", ToString(config.client.transport)},
      {"protocol", ToString(config.client.protocol)},
      {"server", report.server},
      {"embedded_server", report.embedded_server},
      {"threads", config.threads},
      {"users", config.users},
      {"seed", config.seed},
      {"target_requests", config.requests ? nlohmann::json(*config.requests) : nullptr},
      {"target_duration_s", config.duration ? nlohmann::json(config.duration->count()) : nullptr},
      {"requests", load.requests()},
      {"ok", load.ok},
      {"failed", load.failed()},
      {"failures_by_cause", load.failures_by_cause},
      {"wrong_answers", load.wrong_answers},
      {"retries", report.connections.retries},
      {"connections_created", report.connections.created},
      {"connections_closed", report.connections.closed},
      {"p50_us", Micros(latency.Percentile(50))},
      {"p90_us", Micros(latency.Percentile(90))},
      {"p99_us", Micros(latency.Percentile(99))},
      {"p999_us", Micros(latency.Percentile(99.9))},
      {"max_us", Micros(latency.max())},
      {"mean_us", Micros(latency.mean())},
      {"rps", std::round(report.rps())},
      {"duration_s", load.elapsed.count()},
      {"stopped_early", load.stopped},
  };
  if (!load.first_wrong_answer.empty()) json["first_wrong_answer"] = load.first_wrong_answer;
  if (!report.timeline.empty()) {
    nlohmann::json timeline = nlohmann::json::array();
    for (const LoadProgress& p : report.timeline) {
      timeline.push_back({p.elapsed.count(), p.done, p.failed});
    }
    json["timeline"] = std::move(timeline);
  }
  if (config.mode == Mode::kPool) {
    const PoolOptions& pool = config.pool;
    json["pool_options"] = {
        {"initial_cap", pool.initial_cap},
        {"max_idle", pool.max_idle},
        {"max_cap", pool.max_cap},
        {"min_idle", pool.min_idle},
        {"idle_timeout_ms", pool.idle_timeout.count()},
        {"max_lifetime_ms", pool.max_lifetime.count()},
        {"wait_timeout_ms", pool.wait_timeout.count()},
        {"keepalive_ms", pool.keepalive_interval.count()},
        {"ping_skip_ms", pool.ping_skip_window.count()},
        {"hand_off_after_us", pool.hand_off_after.count()},
    };
  } else if (config.mode == Mode::kHandwritten) {
    json["pool_options"] = {
        {"max_cap", config.pool.max_cap},
        {"wait_timeout_ms", config.pool.wait_timeout.count()},
    };
  }
  if (!report.details.is_null()) json["pool"] = report.details;
  return json;
}

}  // namespace thriftpool::tool
