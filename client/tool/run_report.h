// RunReport: the outcome of one user_client run, as a readable summary and as one JSON object.
#ifndef THRIFTPOOL_CLIENT_TOOL_RUN_REPORT_H_
#define THRIFTPOOL_CLIENT_TOOL_RUN_REPORT_H_

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "client_source.h"
#include "load_loop.h"
#include "tool_config.h"

namespace thriftpool::tool {

struct RunReport {
  ToolConfig config;
  std::string server;  // HOST:PORT that was called
  bool embedded_server = false;
  LoadResult load;
  ConnectionCounts connections;
  // ClientSource::Details(): the pool's statistics in pool and handwritten modes, else null.
  nlohmann::json details;
  // With --timeline-ms: the counts sampled every interval during the run.
  std::vector<LoadProgress> timeline;

  // Successful requests per second of the run.
  double rps() const;
};

// Several lines, for a person.
void PrintSummary(const RunReport& report, std::ostream& out);
// For scripts (bench/e2e) and tests. Latencies in microseconds, times in seconds. Keys: mode,
// transport, protocol, server, embedded_server, threads, users, seed, target_requests,
// target_duration_s, requests, ok, failed, failures_by_cause, wrong_answers, retries,
// connections_created, connections_closed, p50_us, p90_us, p99_us, p999_us, max_us, mean_us, rps,
// duration_s, stopped_early; pool mode adds pool_options and pool (its statistics), handwritten
// mode pool_options (max_cap, wait_timeout_ms) and pool (max_cap, closed_broken); with
// --timeline-ms, timeline: [[seconds since the start, requests done, failed], ...].
nlohmann::json ToJson(const RunReport& report);

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_RUN_REPORT_H_
