#include "progress_line.h"

#include <unistd.h>

#include <utility>

namespace thriftpool::tool {
namespace {

// Carriage return, then "erase to end of line": the next text overwrites the old line fully.
constexpr char kEraseLine[] = "\r\033[K";

}  // namespace

ProgressLine::ProgressLine(std::FILE* stream, std::string label, std::optional<std::int64_t> total)
    : stream_(stream),
      enabled_(isatty(fileno(stream)) == 1),
      label_(std::move(label)),
      total_(total) {}

ProgressLine::~ProgressLine() { Clear(); }

void ProgressLine::Update(const LoadProgress& progress) {
  if (!enabled_) return;
  const double seconds = progress.elapsed.count();
  const double rps = seconds > 0 ? progress.done / seconds : 0;
  std::string done = std::to_string(progress.done);
  if (total_) done += "/" + std::to_string(*total_);
  std::fprintf(stream_, "%s[%s] %s requests, %llu failed, %.0f rps, %.1f s", kEraseLine,
               label_.c_str(), done.c_str(), static_cast<unsigned long long>(progress.failed), rps,
               seconds);
  std::fflush(stream_);
  drawn_ = true;
}

void ProgressLine::Clear() {
  if (!drawn_) return;
  std::fputs(kEraseLine, stream_);
  std::fflush(stream_);
  drawn_ = false;
}

}  // namespace thriftpool::tool
