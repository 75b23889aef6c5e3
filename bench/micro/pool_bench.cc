// Micro-benchmarks of ChannelPool<T>::Get + Put on a trivial object, beside the cost floor of any
// lock-based pool, followed by a check of the performance targets against the figures of the run.
//
// What each benchmark measures, and why:
//  - MutexVectorFloor/threads:{1,2}: pop + push on a std::mutex-guarded std::vector<Obj*> with one
//    steady_clock read per cycle. No lock-based pool that stamps its objects can do less, so the
//    pool's figures are divided by it: the ratio is the pool's own overhead, whatever the machine.
//    Like every benchmark but the next, it runs in a process that has had other threads (see
//    Process below: glibc's locks are cheaper until a process starts its first thread).
//  - MutexVectorFloor/process:single_threaded: the same, serially, run first, while the process has
//    never had a second thread. For reference only (e.g. the 29 ns of ANCHORS.md): a pool always
//    lives in a multi-threaded process, and with timeouts on starts a thread itself.
//  - PoolGetPut/timeouts:{off,on}/max_cap:N/.../threads:N (N = 1, 2, 4, 8, 16): one Get and one
//    Put per iteration on a pool shared by N threads and holding N objects (max_cap = max_idle =
//    initial_cap = N), so no Get ever waits: the cost of the pool's bookkeeping as threads are
//    added (each thread soon cycles on an object parked for it, without the pool's lock).
//    "timeouts:on" sets idle_timeout 60 s and max_lifetime 10 min, enabled but never firing, to
//    price the clock reads and expiry checks that they need.
//  - PoolGetPut/timeouts:{off,on}/max_cap:N/{metrics,leak_detection}:on/.../threads:N (N = 1, 2):
//    the uncontended cases with metrics on (histograms recorded, the pool registered) or leak
//    detection on (a threshold never reached); the summary's (f) lines give on - off per thread
//    (target for metrics: <= 10 ns).
//  - PoolGetPut/timeouts:{off,on}/max_cap:2/.../threads:{8,16}: contended, more threads than
//    objects, so Gets find nothing free and yield or wait for a Put. Measures whether throughput
//    holds up as waiters pile up, and reports the pool's wait statistics (waits per cycle, longest
//    wait, timeouts against a wait_timeout of 1 s; a timed-out Get is counted, not fatal).
//
// Counters: allocs_per_cycle (heap allocations per cycle in steady state: objects are created
// before the timed loop), thread_time_per_cycle (each thread's own time per cycle; the Time column
// is wall time / the cycles of all threads, the inverse of items_per_second), and for the pool
// get_timeouts, wait_timeouts, waits_per_cycle, max_wait_us.
//
// Default minimum time per benchmark: 0.3 s (the whole binary runs in about 10 s on 2 cores);
// Google Benchmark's flags (--benchmark_filter, --benchmark_repetitions, ...) apply. Summary
// figures are medians over repetitions, the worst case for waits, timeouts and allocations.
#include <benchmark/benchmark.h>
#include <thriftpool/channel_pool.h>
#include <unistd.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alloc_counter.h"

namespace thriftpool {
namespace bench {
namespace {

using std::chrono::milliseconds;

// The pooled object: trivial, so that only the pool's own cost is measured.
struct Obj {
  int v = 0;
};

constexpr milliseconds kWaitTimeout{1000};
constexpr std::size_t kContendedMaxCap = 2;
constexpr int kContendedThreads[] = {8, 16};
constexpr int kUncontendedThreads[] = {1, 2, 4, 8, 16};
constexpr int kFloorThreads[] = {1, 2};
constexpr char kFloorName[] = "MutexVectorFloor";
constexpr char kSingleThreadedFloorName[] = "MutexVectorFloor/process:single_threaded";
constexpr char kThreadTimeCounter[] = "thread_time_per_cycle";

// silenceper/pool v1.0.0 (Go 1.19), same machine (/work/shared/ANCHORS.md): IdleTimeout 0 (the
// figures the targets name), and IdleTimeout 1 min (like for like with timeouts:on).
constexpr double kGoSerialNs = 165;
constexpr double kGoTwoThreadsNs = 191;
constexpr double kGoIdleTimeoutSerialNs = 210;
constexpr double kGoIdleTimeoutTwoThreadsNs = 240;

// What a PoolGetPut benchmark turns on besides the timeouts.
enum class Feature {
  kNone,
  kMetrics,        // PoolOptions::metrics_name: the histograms recorded, the pool registered
  kLeakDetection,  // PoolOptions::leak_detection_threshold (never reached)
};
constexpr Feature kFeatures[] = {Feature::kMetrics, Feature::kLeakDetection};
// The threads of the cases with a feature on (uncontended, one object per thread).
constexpr int kFeatureThreads[] = {1, 2};

// One PoolGetPut benchmark.
struct PoolCase {
  bool timeouts;  // idle_timeout and max_lifetime on (never firing) or off
  std::size_t max_cap;
  int threads;
  Feature feature = Feature::kNone;
};

const char* FeatureName(Feature feature) {
  switch (feature) {
    case Feature::kMetrics:
      return "metrics";
    case Feature::kLeakDetection:
      return "leak_detection";
    case Feature::kNone:
      break;
  }
  return "";
}

std::string PoolCaseName(bool timeouts, std::size_t max_cap, Feature feature = Feature::kNone) {
  return std::string("PoolGetPut/timeouts:") + (timeouts ? "on" : "off") +
         "/max_cap:" + std::to_string(max_cap) +
         (feature == Feature::kNone ? "" : std::string("/") + FeatureName(feature) + ":on");
}

PoolOptions MakeOptions(const PoolCase& c) {
  PoolOptions options;
  options.max_cap = c.max_cap;
  // max_idle = max_cap: a Put never closes its object for being one idle too many.
  options.max_idle = c.max_cap;
  // Objects made up front: the timed loop measures the steady state, not creation.
  options.initial_cap = c.max_cap;
  options.wait_timeout = kWaitTimeout;
  if (c.timeouts) {
    options.idle_timeout = std::chrono::seconds(60);
    options.max_lifetime = std::chrono::minutes(10);
  }
  if (c.feature == Feature::kMetrics) options.metrics_name = "pool_bench";
  if (c.feature == Feature::kLeakDetection)
    options.leak_detection_threshold = std::chrono::minutes(1);
  return options;
}

// The shared state of one pool benchmark run: the pool, Get + Put as one cycle.
class PoolGetPut {
 public:
  static constexpr bool kCanTimeOut = true;

  explicit PoolGetPut(const PoolCase& c)
      : pool_(
            MakeOptions(c), [] { return std::make_unique<Obj>(); }, [](Obj&) {}) {}

  // False when Get timed out.
  bool Cycle() {
    try {
      Lease<Obj> lease = pool_.Get();
      benchmark::DoNotOptimize(lease->v);
      pool_.Put(std::move(lease));
      return true;
    } catch (const PoolTimeoutError&) {
      return false;
    }
  }

  // Called once, after every thread has finished its cycles.
  void Report(benchmark::State& state) const {
    const PoolStats stats = pool_.Stats();
    state.counters["wait_timeouts"] = static_cast<double>(stats.wait_timeouts);
    // Divided by the iterations of all threads when the run is reported.
    state.counters["waits_per_cycle"] = benchmark::Counter(static_cast<double>(stats.wait_count),
                                                           benchmark::Counter::kAvgIterations);
    state.counters["max_wait_us"] =
        std::chrono::duration<double, std::micro>(stats.max_wait_duration).count();
  }

 private:
  ChannelPool<Obj> pool_;
};

// The floor: the least a lock-based pool that stamps each return with the time can do.
class MutexVectorFloor {
 public:
  static constexpr bool kCanTimeOut = false;

  // One object per thread, as the uncontended pool runs have.
  explicit MutexVectorFloor(int threads) {
    for (int i = 0; i < threads; ++i) owned_.push_back(std::make_unique<Obj>());
    for (const auto& obj : owned_) idle_.push_back(obj.get());
  }

  bool Cycle() {
    Obj* obj;
    {
      std::lock_guard<std::mutex> lock(mu_);
      obj = idle_.back();
      idle_.pop_back();
    }
    benchmark::DoNotOptimize(obj->v);
    // Where a pool would record when the object came back (idle_timeout counts from there).
    const auto now = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(now);
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(obj);  // never reallocates: the capacity is kept across pop_back
    }
    return true;
  }

  void Report(benchmark::State&) const {}

 private:
  std::mutex mu_;
  std::vector<Obj*> idle_;
  std::vector<std::unique_ptr<Obj>> owned_;
};

// Whether the process has ever had a second thread. glibc makes std::mutex (and more) skip its
// atomic instructions until then: here the floor costs ~28 ns per cycle in a process that never
// had a thread and ~45 ns in one that has. A pool only matters in the second kind (and one with
// timeouts starts its own upkeep thread), so every benchmark but the reference floor runs there,
// whatever ran before it.
enum class Process { kSingleThreaded, kMultiThreaded };

bool ProcessIsSingleThreaded() {
#if __has_include(<sys/single_threaded.h>)
  return __libc_single_threaded != 0;
#else
  return false;  // unknown: the single-threaded reference is then skipped
#endif
}

void MakeProcessMultiThreaded() {
  static std::once_flag once;
  std::call_once(once, [] { std::thread([] {}).join(); });
}

// Runs Bench::Cycle() once per iteration in every thread of the benchmark, all threads sharing one
// Bench. Thread 0 makes it before the threads start their loops and reports and destroys it after
// all of them have finished, both outside the timed region: Google Benchmark holds every thread at
// a barrier before the first iteration and after the last.
// `process`: see Process.
template <class Bench, class Config>
void RunSharedCycles(benchmark::State& state, Process process, const Config& config) {
  if (process == Process::kMultiThreaded) {
    MakeProcessMultiThreaded();
  } else if (!ProcessIsSingleThreaded()) {
    // Runs first in registration order; not so with --benchmark_enable_random_interleaving.
    state.SkipWithError("the process is no longer single-threaded");
    for (auto _ : state) {
    }
    return;
  }
  // Benchmarks run one at a time, so one instance per Bench type suffices.
  static std::unique_ptr<Bench> shared;
  const bool leader = state.thread_index() == 0;
  if (leader) shared = std::make_unique<Bench>(config);

  // The range-for loop spelled out, to read `shared` once, after the start barrier (reached by the
  // time both begin() and end() have been called) and without a load per iteration.
  auto it = state.begin();
  const auto end = state.end();
  Bench& bench = *shared;
  std::int64_t timeouts = 0;
  const std::uint64_t allocs_before = ThreadAllocationCount();
  for (; it != end; ++it) {
    if (!bench.Cycle()) ++timeouts;
  }
  const std::uint64_t allocs = ThreadAllocationCount() - allocs_before;

  // Per-thread counters are summed over the threads, then the flags apply.
  state.SetItemsProcessed(state.iterations());
  state.counters["allocs_per_cycle"] =
      benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
  if constexpr (Bench::kCanTimeOut) state.counters["get_timeouts"] = static_cast<double>(timeouts);
  if (leader) {
    // Each thread's time per cycle = (average thread wall time) / (iterations / threads), in
    // seconds (printed as e.g. "99.1ns"). Counters can only be divided by time, threads and
    // iterations, so it is built as the inverse of iterations / (seconds * threads), from a value
    // of 1 set by the leader alone (per-thread values are summed).
    state.counters[kThreadTimeCounter] =
        benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate |
                                  benchmark::Counter::kAvgThreads | benchmark::Counter::kInvert);
    bench.Report(state);
    shared.reset();
  }
}

void RegisterBenchmarks() {
  // First, while no thread has been started yet (see Process).
  benchmark::RegisterBenchmark(kSingleThreadedFloorName, [](benchmark::State& state) {
    RunSharedCycles<MutexVectorFloor>(state, Process::kSingleThreaded, 1);
  })->UseRealTime();
  for (int threads : kFloorThreads) {
    benchmark::RegisterBenchmark(kFloorName,
                                 [threads](benchmark::State& state) {
                                   RunSharedCycles<MutexVectorFloor>(state, Process::kMultiThreaded,
                                                                     threads);
                                 })
        ->Threads(threads)
        ->UseRealTime();
  }
  for (bool timeouts : {false, true}) {
    std::vector<PoolCase> cases;
    for (int threads : kUncontendedThreads) {
      cases.push_back({timeouts, static_cast<std::size_t>(threads), threads});
    }
    for (int threads : kContendedThreads) cases.push_back({timeouts, kContendedMaxCap, threads});
    for (Feature feature : kFeatures) {
      for (int threads : kFeatureThreads) {
        cases.push_back({timeouts, static_cast<std::size_t>(threads), threads, feature});
      }
    }
    for (const PoolCase& c : cases) {
      benchmark::RegisterBenchmark(PoolCaseName(c.timeouts, c.max_cap, c.feature).c_str(),
                                   [c](benchmark::State& state) {
                                     RunSharedCycles<PoolGetPut>(state, Process::kMultiThreaded, c);
                                   })
          ->Threads(c.threads)
          ->UseRealTime();
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Summary of the targets.

// What the summary needs from one benchmark (one run, or several repetitions combined).
struct Figures {
  double ns_per_cycle = 0;         // wall time / cycles of all threads (the Time column)
  double thread_ns_per_cycle = 0;  // each thread's own time per cycle
  double cycles_per_second = 0;    // all threads together
  double allocs_per_cycle = 0;
  double max_wait_us = 0;
  double timeouts = 0;  // Gets that ended in PoolTimeoutError (caught in the loop, or per Stats())
};

double CounterOr(const benchmark::BenchmarkReporter::Run& run, const char* name, double fallback) {
  const auto it = run.counters.find(name);
  return it == run.counters.end() ? fallback : it->second.value;
}

Figures FiguresOf(const benchmark::BenchmarkReporter::Run& run) {
  Figures f;
  f.ns_per_cycle =
      run.GetAdjustedRealTime() * 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
  f.thread_ns_per_cycle = CounterOr(run, kThreadTimeCounter, 0) * 1e9;
  f.cycles_per_second = CounterOr(run, "items_per_second", 0);
  f.allocs_per_cycle = CounterOr(run, "allocs_per_cycle", 0);
  f.max_wait_us = CounterOr(run, "max_wait_us", 0);
  f.timeouts = std::max(CounterOr(run, "get_timeouts", 0), CounterOr(run, "wait_timeouts", 0));
  return f;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Medians of the timings; the worst case of what must stay at zero or below a bound.
Figures Combine(const std::vector<Figures>& runs) {
  auto median = [&runs](double Figures::*field) {
    std::vector<double> values;
    for (const Figures& f : runs) values.push_back(f.*field);
    return Median(std::move(values));
  };
  auto worst = [&runs](double Figures::*field) {
    double worst = 0;
    for (const Figures& f : runs) worst = std::max(worst, f.*field);
    return worst;
  };
  Figures f;
  f.ns_per_cycle = median(&Figures::ns_per_cycle);
  f.thread_ns_per_cycle = median(&Figures::thread_ns_per_cycle);
  f.cycles_per_second = median(&Figures::cycles_per_second);
  f.allocs_per_cycle = worst(&Figures::allocs_per_cycle);
  f.max_wait_us = worst(&Figures::max_wait_us);
  f.timeouts = worst(&Figures::timeouts);
  return f;
}

// Forwards everything to the reporter chosen on the command line, keeping the figures of each
// benchmark for the summary.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CollectingReporter(std::unique_ptr<benchmark::BenchmarkReporter> display)
      : display_(std::move(display)) {}

  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      Key key{run.run_name.function_name, static_cast<int>(run.threads)};
      if (run.run_type == Run::RT_Iteration) {
        iterations_[key].push_back(FiguresOf(run));
      } else if (run.aggregate_name == "median") {
        // All there is with --benchmark_display_aggregates_only.
        medians_[key] = FiguresOf(run);
      }
    }
    display_->ReportRuns(runs);
  }
  void Finalize() override { display_->Finalize(); }

  // The figures of benchmark `name` run with `threads` threads, if it ran.
  std::optional<Figures> Find(const std::string& name, int threads) const {
    const Key key{name, threads};
    if (auto it = iterations_.find(key); it != iterations_.end()) return Combine(it->second);
    if (auto it = medians_.find(key); it != medians_.end()) return it->second;
    return std::nullopt;
  }

 private:
  using Key = std::pair<std::string, int>;
  std::unique_ptr<benchmark::BenchmarkReporter> display_;
  std::map<Key, std::vector<Figures>> iterations_;
  std::map<Key, Figures> medians_;
};

// printf into a string; every caller passes doubles only.
template <class... Doubles>
std::string Format(const char* format, Doubles... values) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, values...);
  return buffer;
}

class Summary {
 public:
  Summary(const CollectingReporter& results, std::ostream& out)
      : results_(results),
        out_(out),
        floor_(results.Find(kFloorName, 1)),
        floor_two_threads_(results.Find(kFloorName, 2)),
        single_threaded_floor_(results.Find(kSingleThreadedFloorName, 1)) {}

  void Print() {
    out_ << "\nTargets, from this run (floor: " << kFloorName
         << "/threads:1; medians of repetitions):\n";
    for (bool timeouts : {false, true}) {
      const char* t = timeouts ? "timeouts on " : "timeouts off";
      const std::optional<Figures> serial = Pool(timeouts, 1, 1);
      const std::optional<Figures> two = Pool(timeouts, 2, 2);
      const std::optional<Figures> sixteen = Pool(timeouts, kContendedMaxCap, 16);

      if (serial && floor_) {
        const double ratio = serial->ns_per_cycle / floor_->ns_per_cycle;
        Target("(a) serial / floor", t,
               Format("%.1f / %.1f ns = %.2fx (<= 1.5x); allocs/cycle %.3g (0)",
                      serial->ns_per_cycle, floor_->ns_per_cycle, ratio, serial->allocs_per_cycle) +
                   SingleThreadedFloorNote(serial->ns_per_cycle),
               ratio <= 1.5 && serial->allocs_per_cycle == 0);
      } else {
        NotRun("(a) serial / floor", t);
      }

      if (two && floor_) {
        const double ratio = two->thread_ns_per_cycle / floor_->ns_per_cycle;
        // For scale: what the floor itself pays per thread with 2 threads.
        const double floor_two = floor_two_threads_ ? floor_two_threads_->thread_ns_per_cycle : 0;
        Target("(b) 2 threads, per thread / floor", t,
               Format("%.1f / %.1f ns = %.2fx (<= 3x); the floor at 2 threads: %.1f ns = %.2fx",
                      two->thread_ns_per_cycle, floor_->ns_per_cycle, ratio, floor_two,
                      floor_two / floor_->ns_per_cycle) +
                   SingleThreadedFloorNote(two->thread_ns_per_cycle),
               ratio <= 3);
      } else {
        NotRun("(b) 2 threads, per thread / floor", t);
      }

      if (sixteen && two) {
        const double ratio = sixteen->cycles_per_second / two->cycles_per_second;
        Target("(c) throughput 16 thr / 2 thr, max_cap 2", t,
               Format("%.2f / %.2f M/s = %.2f (>= 0.5)", sixteen->cycles_per_second / 1e6,
                      two->cycles_per_second / 1e6, ratio),
               ratio >= 0.5);
      } else {
        NotRun("(c) throughput 16 thr / 2 thr, max_cap 2", t);
      }

      ContendedWaits(t, timeouts);

      if (serial) {
        const double faster = kGoSerialNs / serial->ns_per_cycle;
        Target("(e) serial vs Go silenceper/pool", t,
               Format("%.1f vs %.0f ns = %.1fx faster (>= 4x)", serial->ns_per_cycle, kGoSerialNs,
                      faster) +
                   GoIdleTimeoutNote(timeouts, serial->ns_per_cycle, kGoIdleTimeoutSerialNs),
               faster >= 4);
      } else {
        NotRun("(e) serial vs Go silenceper/pool", t);
      }
      if (two) {
        // Judged on each thread's own time per cycle, the stricter reading: Go's RunParallel
        // ns/op is wall time / all operations, which is our Time column, shown alongside.
        const double faster = kGoTwoThreadsNs / two->thread_ns_per_cycle;
        Target(
            "(e) 2 threads vs Go silenceper/pool", t,
            Format("per thread %.1f vs %.0f ns = %.1fx faster (>= 4x); wall/all cycles %.1f ns "
                   "= %.1fx",
                   two->thread_ns_per_cycle, kGoTwoThreadsNs, faster, two->ns_per_cycle,
                   kGoTwoThreadsNs / two->ns_per_cycle) +
                GoIdleTimeoutNote(timeouts, two->thread_ns_per_cycle, kGoIdleTimeoutTwoThreadsNs),
            faster >= 4);
      } else {
        NotRun("(e) 2 threads vs Go silenceper/pool", t);
      }

      // What a feature costs: the same case with it on, minus with it off.
      for (Feature feature : kFeatures) {
        for (int threads : kFeatureThreads) {
          const std::string what = std::string("(f) ") + FeatureName(feature) + " on - off, " +
                                   std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
          const auto size = static_cast<std::size_t>(threads);
          const std::optional<Figures> off = Pool(timeouts, size, threads);
          const std::optional<Figures> on =
              results_.Find(PoolCaseName(timeouts, size, feature), threads);
          if (!off || !on) {
            NotRun(what.c_str(), t);
            continue;
          }
          // Per thread: with 2 threads the Time column halves what each thread pays.
          const double diff = on->thread_ns_per_cycle - off->thread_ns_per_cycle;
          const std::string figures =
              Format("per thread %.1f - %.1f ns = %+.1f ns", on->thread_ns_per_cycle,
                     off->thread_ns_per_cycle, diff) +
              (feature == Feature::kMetrics ? " (<= 10 ns)" : " (no target)") +
              Format("; allocs/cycle %.3g (0)", on->allocs_per_cycle);
          if (feature == Feature::kMetrics) {
            Target(what.c_str(), t, figures, diff <= 10 && on->allocs_per_cycle == 0);
          } else {
            out_ << "info   " << what << ", " << t << ": " << figures << "\n";
          }
        }
      }
    }
  }

 private:
  std::optional<Figures> Pool(bool timeouts, std::size_t max_cap, int threads) const {
    return results_.Find(PoolCaseName(timeouts, max_cap), threads);
  }

  // (d): over the contended runs of one timeouts setting.
  void ContendedWaits(const char* t, bool timeouts) {
    double max_wait_us = 0;
    double total_timeouts = 0;
    bool any = false;
    for (int threads : kContendedThreads) {
      if (const std::optional<Figures> f = Pool(timeouts, kContendedMaxCap, threads)) {
        any = true;
        max_wait_us = std::max(max_wait_us, f->max_wait_us);
        total_timeouts += f->timeouts;
      }
    }
    if (!any) return NotRun("(d) contended: longest wait, timeouts", t);
    const double timeout_us = std::chrono::duration<double, std::micro>(kWaitTimeout).count();
    Target(
        "(d) contended: longest wait, timeouts", t,
        Format("%.0f us (< %.0f us), %.0f timeouts (0)", max_wait_us, timeout_us, total_timeouts),
        max_wait_us < timeout_us && total_timeouts == 0);
  }

  void Target(const char* what, const char* variant, const std::string& figures, bool met) {
    out_ << (met ? "MET    " : "MISSED ") << what << ", " << variant << ": " << figures << "\n";
  }
  void NotRun(const char* what, const char* variant) {
    out_ << "n/a    " << what << ", " << variant << ": not run (filtered out?)\n";
  }

  // With timeouts on, the same comparison against Go with its IdleTimeout set (shown only: the
  // target names the figures without).
  static std::string GoIdleTimeoutNote(bool timeouts, double ns, double go_ns) {
    if (!timeouts) return "";
    return Format(" [vs Go with IdleTimeout 1 min, %.0f ns: %.1fx]", go_ns, go_ns / ns);
  }

  // The same ratio against the floor of a process that never had a thread (ANCHORS.md's 29 ns
  // floor looks like one): not like for like (see Process), shown for comparison only.
  std::string SingleThreadedFloorNote(double ns) const {
    if (!single_threaded_floor_) return "";
    return Format(" [vs %.1f ns single-threaded-process floor: %.2fx]",
                  single_threaded_floor_->ns_per_cycle, ns / single_threaded_floor_->ns_per_cycle);
  }

  const CollectingReporter& results_;
  std::ostream& out_;
  const std::optional<Figures> floor_;
  const std::optional<Figures> floor_two_threads_;
  const std::optional<Figures> single_threaded_floor_;
};

// The value of --name=value on the command line, if set (the form Google Benchmark accepts).
std::optional<std::string> FlagValue(int argc, char** argv, const std::string& name) {
  const std::string prefix = "--" + name + "=";
  std::optional<std::string> value;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      value = argv[i] + prefix.size();  // the last one wins, as in Google Benchmark
    }
  }
  return value;
}

bool IsTrue(const std::optional<std::string>& value) {
  return value && (*value == "true" || *value == "1" || *value == "yes");
}

int Main(int argc, char** argv) {
  // A shorter default than Google Benchmark's 0.5 s, unless the command line sets one.
  std::vector<char*> args(argv, argv + argc);
  std::string default_min_time = "--benchmark_min_time=0.3";
  if (!FlagValue(argc, argv, "benchmark_min_time")) args.push_back(default_min_time.data());
  const std::string format = FlagValue(argc, argv, "benchmark_format").value_or("console");
  const bool tabular = IsTrue(FlagValue(argc, argv, "benchmark_counters_tabular"));
  const std::optional<std::string> color = FlagValue(argc, argv, "benchmark_color");
  const bool use_color = color ? IsTrue(color) : isatty(STDOUT_FILENO) != 0;

  int args_count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;

  // We pass our own display reporter, so Google Benchmark does not read --benchmark_format itself.
  std::unique_ptr<benchmark::BenchmarkReporter> display;
  if (format == "console") {
    int options = benchmark::ConsoleReporter::OO_None;
    if (use_color) options |= benchmark::ConsoleReporter::OO_Color;
    if (tabular) options |= benchmark::ConsoleReporter::OO_Tabular;
    display = std::make_unique<benchmark::ConsoleReporter>(
        static_cast<benchmark::ConsoleReporter::OutputOptions>(options));
  } else if (format == "json") {
    display = std::make_unique<benchmark::JSONReporter>();
  } else {
    std::cerr << "pool_bench: --benchmark_format must be console or json (for csv, use "
                 "--benchmark_out=FILE --benchmark_out_format=csv)\n";
    return 1;
  }

  RegisterBenchmarks();
  CollectingReporter reporter(std::move(display));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Keep machine-readable output parseable: the summary then goes to stderr.
  Summary(reporter, format == "console" ? std::cout : std::cerr).Print();
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace thriftpool

int main(int argc, char** argv) { return thriftpool::bench::Main(argc, argv); }
