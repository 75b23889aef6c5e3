#include <thriftpool/service_pool_options.h>

#include <stdexcept>
#include <string>

namespace thriftpool {
namespace {

void Require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw std::invalid_argument(std::string("ServicePoolOptions.") + field + ": " + why);
}

}  // namespace

const char* ToString(BalancerKind kind) { return kind == BalancerKind::kRoundRobin ? "rr" : "p2c"; }

BalancerKind ParseBalancerKind(const std::string& text) {
  if (text == "p2c") return BalancerKind::kPowerOfTwoChoices;
  if (text == "rr") return BalancerKind::kRoundRobin;
  throw std::invalid_argument("unknown balancer '" + text + "' (expected p2c or rr)");
}

void ValidateServicePoolOptions(const ServicePoolOptions& options) {
  const EjectionOptions& ejection = options.ejection;
  Require(ejection.consecutive_failures >= 0 && ejection.consecutive_failures <= 1000,
          "ejection.consecutive_failures",
          "must be within 0..1000 (got " + std::to_string(ejection.consecutive_failures) + ")");
  Require(ejection.max_ejected_share >= 0 && ejection.max_ejected_share <= 1,
          "ejection.max_ejected_share", "must be within [0, 1]");
  Require(ejection.base_backoff.count() >= 1, "ejection.base_backoff", "must be at least 1 ms");
  Require(ejection.max_backoff >= ejection.base_backoff &&
              ejection.max_backoff <= std::chrono::hours(1),
          "ejection.max_backoff", "must be within base_backoff..1 h");
}

}  // namespace thriftpool
