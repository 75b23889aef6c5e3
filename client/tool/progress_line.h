// ProgressLine: one live status line on stderr while a run is under way.
#ifndef THRIFTPOOL_CLIENT_TOOL_PROGRESS_LINE_H_
#define THRIFTPOOL_CLIENT_TOOL_PROGRESS_LINE_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "load_loop.h"

namespace thriftpool::tool {

// Redraws itself in place with '\r'. Draws only when its stream is a terminal: a log file or a
// pipe (the tests, bench/e2e) gets none of it. Not thread-safe: one drawing thread.
class ProgressLine {
 public:
  // `label` starts the line (e.g. "pool x4"); `total` is the request target, if any.
  ProgressLine(std::FILE* stream, std::string label, std::optional<std::int64_t> total);
  // Clear().
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  void Update(const LoadProgress& progress);
  // Erases the line, so that the summary starts on a clean one. Idempotent.
  void Clear();

 private:
  std::FILE* const stream_;
  const bool enabled_;
  const std::string label_;
  const std::optional<std::int64_t> total_;
  bool drawn_ = false;
};

}  // namespace thriftpool::tool

#endif  // THRIFTPOOL_CLIENT_TOOL_PROGRESS_LINE_H_
