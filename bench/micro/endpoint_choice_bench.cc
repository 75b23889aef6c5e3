// Part of pool_bench: what choosing an endpoint costs a ServicePool call, by the size of the
// endpoint set (1 to 1,000) and the balancer, serially and from 2 threads. One iteration is a
// Choose (read the set, draw two endpoints, compare their load; the in-flight count goes up) and
// the end of the attempt (RecordSuccess with a latency; the count goes down): everything a call
// adds to ThriftClientPool's path except the connection pool itself. The endpoints' pools are
// stand-ins that never connect, so only the choice is measured.
#include <benchmark/benchmark.h>
#include <thriftpool/internal/service_core.h>

#include <chrono>
#include <memory>
#include <vector>

namespace thriftpool::bench {
namespace {

class IdlePool final : public internal::EndpointPool {
 public:
  void Release() override {}
  void UnregisterMetrics() override {}
  PoolStats Stats() const override { return {}; }
};

std::unique_ptr<internal::ServiceCore> MakeCore(int endpoints, BalancerKind balancer) {
  ServicePoolOptions options;
  options.balancer = balancer;
  auto core = std::make_unique<internal::ServiceCore>(
      options, [](const Endpoint&) { return std::make_shared<IdlePool>(); },
      [](const Endpoint&) { return false; });
  std::vector<Endpoint> set;
  for (int i = 0; i < endpoints; ++i) set.push_back({"127.0.0.1", 10000 + i, 1});
  core->Update(set);
  return core;
}

void ChooseEndpoint(benchmark::State& state, BalancerKind balancer) {
  static std::unique_ptr<internal::ServiceCore> core;
  if (state.thread_index() == 0) core = MakeCore(static_cast<int>(state.range(0)), balancer);
  const std::vector<const internal::EndpointState*> none;
  for (auto _ : state) {
    internal::Pick pick = core->Choose(none);
    core->RecordSuccess(pick, std::chrono::microseconds(20));
    benchmark::DoNotOptimize(&pick.state());
  }
  if (state.thread_index() == 0) core.reset();
}

void ChooseEndpointP2c(benchmark::State& state) {
  ChooseEndpoint(state, BalancerKind::kPowerOfTwoChoices);
}
void ChooseEndpointRoundRobin(benchmark::State& state) {
  ChooseEndpoint(state, BalancerKind::kRoundRobin);
}

BENCHMARK(ChooseEndpointP2c)
    ->ArgName("endpoints")
    ->Arg(1)
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000)
    ->Threads(1)
    ->Threads(2);
BENCHMARK(ChooseEndpointRoundRobin)
    ->ArgName("endpoints")
    ->Arg(3)
    ->Arg(1000)
    ->Threads(1)
    ->Threads(2);

}  // namespace
}  // namespace thriftpool::bench
