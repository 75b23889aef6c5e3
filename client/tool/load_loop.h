// RunLoad: the bounded getUser load that every mode shares, with answer checks, failure counting
// by cause and latency recording.
#ifndef THRIFTPOOL_CLIENT_TOOL_LOAD_LOOP_H_
#define THRIFTPOOL_CLIENT_TOOL_LOAD_LOOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "client_source.h"
#include "latency_histogram.h"

namespace thriftpool::tool {

// What to send. Exactly one of requests and duration is set.
struct LoadSpec {
  int threads = 1;
  // Split evenly over the threads up front, so that no shared counter sits on the hot path.
  std::optional<std::int64_t> requests;
  std::optional<std::chrono::duration<double>> duration;
  // getUser ids are uniform in 1..users, drawn per thread from seed + thread index.
  std::int64_t users = 1;
  std::uint64_t seed = 1;
};

// Counts so far, for a progress display.
struct LoadProgress {
  std::uint64_t done = 0;  // requests finished, whatever their outcome
  std::uint64_t failed = 0;
  std::chrono::duration<double> elapsed{0};
};

struct LoadResult {
  std::uint64_t ok = 0;
  // Answers for another id, or with a name other than "user-<id>": a desynchronised stream.
  std::uint64_t wrong_answers = 0;
  // Exceptions, by cause: the exception's type, e.g. "TTransportException(NOT_OPEN)".
  std::map<std::string, std::uint64_t> failures_by_cause;
  // The first wrong answer, described, for the report ("" if none).
  std::string first_wrong_answer;
  // Latency of the requests that got an answer (ok or wrong); failures are not in it.
  LatencyHistogram latency;
  // From the moment every thread was ready to the end of the last request.
  std::chrono::duration<double> elapsed{0};
  // The stop flag cut the run short.
  bool stopped = false;

  std::uint64_t failed() const;
  std::uint64_t requests() const { return ok + wrong_answers + failed(); }
};

// Runs spec's load, each thread with its own source.NewCaller(), and returns when every thread
// has finished its share, the duration has passed, or `stop` became true. Calls `on_progress`
// (if set) from the calling thread about every `progress_interval` meanwhile. Throws
// std::runtime_error naming the thread when one cannot be started (the others are joined first,
// without a run), and what a NewCaller threw.
LoadResult RunLoad(const LoadSpec& spec, ClientSource& source, const std::atomic<bool>& stop,
                   const std::function<void(const LoadProgress&)>& on_progress = nullptr,
                   std::chrono::milliseconds progress_interval = std::chrono::milliseconds(250));

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_LOAD_LOOP_H_
