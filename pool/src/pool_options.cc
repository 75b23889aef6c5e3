#include <thriftpool/pool_options.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace thriftpool {
namespace {

void Require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw std::invalid_argument(std::string("PoolOptions.") + field + ": " + why);
}

// The options' durations are in milliseconds, but for hand_off_after in microseconds; the
// message names the field's own unit.
template <class Duration>
void RequireNonNegative(Duration value, const char* field) {
  static_assert(std::is_same<Duration, std::chrono::milliseconds>::value ||
                    std::is_same<Duration, std::chrono::microseconds>::value,
                "a unit this function names");
  const char* unit = std::is_same<Duration, std::chrono::milliseconds>::value ? " ms)" : " us)";
  Require(value.count() >= 0, field,
          "must not be negative (got " + std::to_string(value.count()) + unit);
}

}  // namespace

void ValidatePoolOptions(const PoolOptions& options) {
  Require(options.max_cap >= 1, "max_cap", "must be at least 1");
  Require(options.max_idle <= options.max_cap, "max_idle",
          "must not exceed max_cap (" + std::to_string(options.max_idle) + " > " +
              std::to_string(options.max_cap) + ")");
  Require(options.initial_cap <= options.max_idle, "initial_cap",
          "must not exceed max_idle (" + std::to_string(options.initial_cap) + " > " +
              std::to_string(options.max_idle) + ")");
  Require(options.min_idle <= options.max_idle, "min_idle",
          "must not exceed max_idle (" + std::to_string(options.min_idle) + " > " +
              std::to_string(options.max_idle) + ")");
  RequireNonNegative(options.idle_timeout, "idle_timeout");
  RequireNonNegative(options.max_lifetime, "max_lifetime");
  RequireNonNegative(options.wait_timeout, "wait_timeout");
  RequireNonNegative(options.hand_off_after, "hand_off_after");
  RequireNonNegative(options.keepalive_interval, "keepalive_interval");
  RequireNonNegative(options.ping_skip_window, "ping_skip_window");
  RequireNonNegative(options.leak_detection_threshold, "leak_detection_threshold");
  Require(options.metrics_endpoint.empty() || !options.metrics_name.empty(), "metrics_endpoint",
          "needs metrics_name (got endpoint \"" + options.metrics_endpoint + "\" without a name)");
  Require(options.lifetime_jitter >= 0.0 && options.lifetime_jitter <= 0.5, "lifetime_jitter",
          "must be within [0, 0.5] (got " + std::to_string(options.lifetime_jitter) + ")");
}

}  // namespace thriftpool
