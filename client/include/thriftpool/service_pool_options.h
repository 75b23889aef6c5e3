// ServicePoolOptions: how ServicePool spreads calls over a service's endpoints and when it takes a
// failing one out.
#ifndef THRIFTPOOL_SERVICE_POOL_OPTIONS_H_
#define THRIFTPOOL_SERVICE_POOL_OPTIONS_H_

#include <thriftpool/pool_errors.h>

#include <chrono>
#include <string>

namespace thriftpool {

enum class BalancerKind {
  // Two endpoints drawn at random; the one expected to answer sooner wins: the lower
  // (calls in flight + 1) x decaying average latency / weight. With equal latencies that is the
  // fewer calls in flight per unit of weight (Finagle's default), a tie going to the lower
  // latency; an idle endpoint that is much slower loses to a busy fast one (Finagle's peak-EWMA
  // idea). A latency is unknown until 8 calls answered (the average starts from the fastest),
  // and an endpoint of unknown latency takes one call at a time; one sample raises the average by
  // at most 1/8. An average that took no sample for a second is unknown again, so an endpoint
  // avoided for being slow gets calls now and then and comes back when it is fast again.
  kPowerOfTwoChoices,
  // Each in turn, whatever their load: for comparison.
  kRoundRobin,
};

// "p2c" / "rr". ParseBalancerKind throws std::invalid_argument naming the value and the choices.
const char* ToString(BalancerKind kind);
BalancerKind ParseBalancerKind(const std::string& text);

struct EjectionOptions {
  // Connection-level failures in a row (a refused or timed-out connect, a transport or protocol
  // error in a call) after which an endpoint gets no new calls and its idle connections are
  // closed. Declared IDL exceptions and TApplicationException are answers, not failures.
  // 0: never eject.
  int consecutive_failures = 5;
  // The largest share of the endpoints ejected at once, in [0, 1] (rounded down: with the default
  // and 3 endpoints, 1). When more fail, the rest stay in and calls fail fast on them instead of
  // finding no endpoint.
  double max_ejected_share = 0.5;
  // An ejected endpoint is probed in the background (a connect, the take-out probe, and the
  // keepalive call if the pool has one) this long after its ejection; each failed probe doubles
  // the wait, up to max_backoff. A probe that succeeds re-admits it.
  std::chrono::milliseconds base_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
};

struct ServicePoolOptions {
  BalancerKind balancer = BalancerKind::kPowerOfTwoChoices;
  EjectionOptions ejection;
};

// Throws std::invalid_argument naming the field: consecutive_failures outside 0..1000,
// max_ejected_share outside [0, 1], base_backoff below 1 ms, max_backoff below base_backoff or
// above 1 hour.
void ValidateServicePoolOptions(const ServicePoolOptions& options);

// A ServicePool has no endpoint to call: its set is empty (none configured yet, or all removed).
class NoEndpointError : public PoolError {
 public:
  using PoolError::PoolError;
};

}  // namespace thriftpool

#endif  // THRIFTPOOL_SERVICE_POOL_OPTIONS_H_
