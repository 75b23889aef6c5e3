// contention_bench: many threads on few objects, ChannelPool against the pool users write by hand.
//
// Each row is THREADS/MAX_CAP/HOLD_US. Every thread loops: Get (timed: that is the wait) -> hold
// the object HOLD_US off the CPU (nanosleep with 1 ns timer slack, standing in for a blocking RPC)
// -> Put, for --seconds. Three variants run in the same binary, interleaved round by round so that
// the VM's drift hits them alike:
//   parked       ChannelPool with its defaults (max_idle == max_cap: the lock-free hot path)
//   locked       ChannelPool with min_idle 1 (issue 13's "locked configuration": Get and Put
//                under the pool's lock while there is room under max_cap for a refill; at
//                max_cap, where no refill can be made, they park as with the defaults)
//   stacked      ChannelPool with max_idle = max_cap - 1, not run by default: every Get and Put
//                under the pool's lock, at max_cap too (needs max_cap >= 2)
//   strict       ChannelPool with hand_off_after 0, not run by default: every waiter is due at
//                once and is handed its object (strict FIFO), and no Put waits in glibc's
//                pthread_cond_signal for waiters woken earlier (README, "Guarantees")
//   handwritten  HandWrittenPool (client/tool/handwritten_pool.h): mutex, LIFO vector,
//                condition_variable notified once per Put
//   handshake    HandshakePool (handshake_pool.h), not run by default: the wake-up handshake
//                ChannelPool had until 2026-12-04, alone, a model (docs/contention.md)
//   bounded      BoundedBargingPool (bounded_barging_pool.h), not run by default: a model of
//                waking without yielding (a shared condition_variable, then hand-offs to waiters
//                that have waited 1 ms), which ChannelPool now follows
//   paced        PacedFifoPool (paced_fifo_pool.h), not run by default: a model of serving
//                waiters first come, first served, each on its own condition_variable, with
//                returners paced in order as glibc paces them in HandWrittenPool
//   control      HandWrittenPool again, not run by default: an A/A test. Its ratios to
//                `handwritten`, and the targets it meets or misses against it, are what the
//                run's noise alone gives, the bar any difference of the pool's must clear
// Reported per variant: cycles per second, the wait's p50 / p99 / max, the loop's p50 / p99 (the
// time from one Get's start to the thread's next: wait + hold + Put + waiting for a CPU, i.e.
// what each request of a thread-per-request caller spends; the wait alone leaves out where a
// thread without an object queues for a CPU instead of for the pool), the Put's p99, the p99 of
// a cycle's wait + Put (all the time a request spends in the pool's calls: a pool can keep its
// Gets short by making its Puts long, as the hand-written pool's notify_one does at 64 / 16 / 50,
// docs/contention.md), the means of the wait, of the time an object is held and of the Put (they
// add up to the mean loop, threads / throughput, but for bookkeeping and time spent waiting for a
// CPU between the calls), fairness = the fewest cycles of any thread / the most cycles of any
// thread (1 = every thread got its share), the process's CPU time per cycle (less sensitive
// than throughput to other load on the machine) and its context switches per cycle (csw: the
// hold's sleep is one; the rest are wake-ups, useful or not). The round with the highest throughput
// of each variant is reported (best of --rounds), as in issue 13.
//
// Targets (issue 13), each ChannelPool variant against the hand-written pool of the same run:
//   moderate  (threads <= 4 x max_cap): throughput >= 0.95x, wait p99 <= its p99 + 0.2 ms,
//             fairness >= 0.8;
//   saturated (threads >= 16 x max_cap): wait p99 <= 0.5x its p99, throughput >= 0.75x,
//             fairness >= 0.5.
// --json FILE appends one JSON object per run (every round), for plots, with the columns and the
// spread of the threads' cycle counts (cycles_cv: standard deviation / mean).
// --cpu_hogs N runs N CPU-bound processes beside the benchmark, as other work on a shared machine
// would: on 2 vCPUs, 2 of them show how each pool copes when a CPU is not there for the asking
// (docs/contention.md, "On a busy machine").
#include <gflags/gflags.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thriftpool/channel_pool.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bounded_barging_pool.h"
#include "handshake_pool.h"
#include "handwritten_pool.h"
#include "paced_fifo_pool.h"

DEFINE_string(rows, "16/4/20,64/16/20,64/16/50,64/4/20,256/8/100,512/4/20",
              "comma-separated THREADS/MAX_CAP/HOLD_US rows");
DEFINE_double(seconds, 1.0, "load per run, in seconds (0.05..60)");
DEFINE_int32(rounds, 3, "interleaved rounds per row; the best of them is reported (1..20)");
DEFINE_string(variants, "parked,locked,handwritten", "comma-separated variants to run");
DEFINE_string(json, "", "if set, append one JSON object per run to this file");
DEFINE_int32(cpu_hogs, 0,
             "CPU-bound processes to run beside the benchmark, at the same priority, as other "
             "work on a shared machine would (0..64)");
DEFINE_string(dat, "",
              "if set, write the best rounds as columns for bench/micro/contention_plot.gp (needs "
              "all three variants)");

namespace thriftpool {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr milliseconds kWaitTimeout{2000};

struct Obj {
  int value = 0;
};

struct Row {
  int threads = 0;
  std::size_t max_cap = 0;
  int hold_us = 0;
  std::string Name() const {
    return std::to_string(threads) + "/" + std::to_string(max_cap) + "/" + std::to_string(hold_us);
  }
};

struct RunResult {
  std::string variant;
  double cycles_per_s = 0;
  double wait_p50_ms = 0;
  double wait_p99_ms = 0;
  double wait_max_ms = 0;
  double loop_p50_ms = 0;  // from one Get's start to the same thread's next
  double loop_p99_ms = 0;
  double put_p99_ms = 0;
  double in_pool_p99_ms = 0;  // a cycle's wait + Put
  // Means, in us, of the wait, of the time an object is held between Get and Put, and of the Put.
  // At most max_cap objects are held at once, so throughput <= max_cap / held (Little's law), and
  // a loop, threads / throughput on average, lasts at least threads / max_cap x held: whatever of
  // that is not held, nor spent in Put, is waited in Get or for a CPU between the calls.
  double wait_mean_us = 0;
  double held_mean_us = 0;
  double put_mean_us = 0;
  double fairness = 0;
  // The spread of the threads' cycle counts: their standard deviation / their mean. Fairness is
  // the extreme pair of `threads` counts; with a spread from the scheduler alone it falls as
  // threads grow and rises as --seconds does, which this tells apart from a pool's preferences.
  double cycles_cv = 0;
  double cpu_us_per_cycle = 0;  // the process's CPU time (user + system) per cycle
  // The process's context switches per cycle, voluntary and not: the hold's sleep is one, and
  // each wake-up of a waiter (whether it then finds an object or sleeps again) one more.
  double switches_per_cycle = 0;
  std::uint64_t timeouts = 0;
};

// Child processes that spin while they exist, so that the pools run on a machine busy with other
// work. Each stops by itself once `limit` has passed or this process has died, whichever is first;
// the destructor kills and reaps them. Their CPU time is not this process's.
class CpuHogs {
 public:
  // Forks `count` hogs; call it before this process starts threads.
  CpuHogs(int count, std::chrono::seconds limit) {
    const pid_t parent = getpid();
    const Clock::time_point deadline = Clock::now() + limit;
    for (int i = 0; i < count; ++i) {
      const pid_t pid = fork();
      if (pid < 0) {
        KillAll();
        throw std::runtime_error("--cpu_hogs: fork failed");
      }
      if (pid == 0) Spin(parent, deadline);
      pids_.push_back(pid);
    }
  }
  CpuHogs(const CpuHogs&) = delete;
  CpuHogs& operator=(const CpuHogs&) = delete;
  ~CpuHogs() { KillAll(); }
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  void KillAll() {
    for (const pid_t pid : pids_) kill(pid, SIGKILL);
    for (const pid_t pid : pids_) waitpid(pid, nullptr, 0);
    pids_.clear();
  }
  [[noreturn]] static void Spin(pid_t parent, Clock::time_point deadline) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);  // the parent died before the line above
    volatile std::uint64_t work = 0;
    for (;;) {
      for (int i = 0; i < (1 << 20); ++i) work = work + 1;
      if (Clock::now() >= deadline) _exit(0);
    }
  }

  std::vector<pid_t> pids_;
};

// User + system CPU time of the whole process so far.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Context switches of the whole process so far, voluntary and involuntary.
std::uint64_t ProcessContextSwitches() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_nvcsw) + static_cast<std::uint64_t>(usage.ru_nivcsw);
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

Row ParseRow(const std::string& text) {
  const std::vector<std::string> parts = Split(text, '/');
  Row row;
  try {
    if (parts.size() != 3) throw std::invalid_argument("three fields");
    row.threads = std::stoi(parts[0]);
    row.max_cap = static_cast<std::size_t>(std::stoul(parts[1]));
    row.hold_us = std::stoi(parts[2]);
  } catch (const std::exception&) {
    throw std::invalid_argument("--rows: '" + text + "' is not THREADS/MAX_CAP/HOLD_US");
  }
  if (row.threads < 1 || row.threads > 4096 || row.max_cap < 1 || row.max_cap > 4096 ||
      row.hold_us < 0 || row.hold_us > 1000000) {
    throw std::invalid_argument(
        "--rows: '" + text + "' out of range (threads 1..4096, max_cap 1..4096, hold 0..1e6 us)");
  }
  return row;
}

// The calls a thread makes on a pool, whichever kind it is.
class PoolUnderTest {
 public:
  virtual ~PoolUnderTest() = default;
  // One Get, hold, Put cycle; false if the Get timed out. `*wait` is the Get's time, `*held` the
  // time from its return to the Put's start, `*put` the Put's.
  virtual bool Cycle(const timespec& hold, nanoseconds* wait, nanoseconds* held,
                     nanoseconds* put) = 0;
};

void Hold(const timespec& hold) {
  if (hold.tv_nsec > 0 || hold.tv_sec > 0) nanosleep(&hold, nullptr);
}

// How long `call` took.
template <class Call>
nanoseconds TimeOf(Call call) {
  const Clock::time_point before = Clock::now();
  call();
  return Clock::now() - before;
}

// Runs `get`, stores its time in `*wait`, and returns what it returned.
template <class Get>
auto Timed(Get get, nanoseconds* wait) {
  std::optional<decltype(get())> got;
  *wait = TimeOf([&] { got.emplace(get()); });
  return std::move(*got);
}

class ChannelPoolUnderTest final : public PoolUnderTest {
 public:
  explicit ChannelPoolUnderTest(const PoolOptions& options)
      : pool_(
            options, [] { return std::make_unique<Obj>(); }, [](Obj&) {}) {}
  bool Cycle(const timespec& hold, nanoseconds* wait, nanoseconds* held,
             nanoseconds* put) override {
    try {
      Lease<Obj> lease = Timed([&] { return pool_.Get(kWaitTimeout); }, wait);
      *held = TimeOf([&] {
        Hold(hold);
        ++lease->value;
      });
      *put = TimeOf([&] { pool_.Put(std::move(lease)); });
      return true;
    } catch (const PoolTimeoutError&) {
      return false;
    }
  }

 private:
  ChannelPool<Obj> pool_;
};

template <class Pool>
class ObjectPoolUnderTest final : public PoolUnderTest {
 public:
  template <class... Args>
  explicit ObjectPoolUnderTest(Args&&... args) : pool_(std::forward<Args>(args)...) {}
  bool Cycle(const timespec& hold, nanoseconds* wait, nanoseconds* held,
             nanoseconds* put) override {
    std::unique_ptr<Obj> object;
    try {
      object = Timed([&] { return pool_.Get(kWaitTimeout); }, wait);
    } catch (const std::runtime_error&) {
      return false;
    }
    *held = TimeOf([&] {
      Hold(hold);
      ++object->value;
    });
    *put = TimeOf([&] { pool_.Put(std::move(object)); });
    return true;
  }

 private:
  Pool pool_;
};

std::unique_ptr<PoolUnderTest> MakePool(const std::string& variant, std::size_t max_cap) {
  PoolOptions options;
  options.max_cap = options.max_idle = max_cap;
  options.wait_timeout = kWaitTimeout;
  if (variant == "parked") return std::make_unique<ChannelPoolUnderTest>(options);
  if (variant == "locked") {
    options.min_idle = 1;
    return std::make_unique<ChannelPoolUnderTest>(options);
  }
  if (variant == "strict") {
    options.hand_off_after = std::chrono::microseconds(0);
    return std::make_unique<ChannelPoolUnderTest>(options);
  }
  if (variant == "stacked") {
    if (max_cap < 2) {
      throw std::invalid_argument(
          "--variants: stacked needs max_cap >= 2 (max_idle = max_cap - 1)");
    }
    options.max_idle = max_cap - 1;  // below max_cap: parking off
    return std::make_unique<ChannelPoolUnderTest>(options);
  }
  if (variant == "handwritten" || variant == "control") {
    return std::make_unique<ObjectPoolUnderTest<tool::HandWrittenPool<Obj>>>(
        max_cap, [] { return std::make_unique<Obj>(); });
  }
  if (variant == "handshake") {
    return std::make_unique<ObjectPoolUnderTest<HandshakePool<Obj>>>(max_cap);
  }
  if (variant == "paced") {
    return std::make_unique<ObjectPoolUnderTest<PacedFifoPool<Obj>>>(max_cap);
  }
  if (variant == "bounded") {
    return std::make_unique<ObjectPoolUnderTest<BoundedBargingPool<Obj>>>(max_cap);
  }
  throw std::invalid_argument(
      "--variants: unknown variant '" + variant +
      "' (parked, locked, stacked, strict, handwritten, handshake, bounded, paced, control)");
}

double Percentile(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const std::size_t index =
      std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[index]) / 1e6;
}

// Every thread's samples in one sorted vector.
std::vector<std::int64_t> SortedUnion(const std::vector<std::vector<std::int64_t>>& per_thread) {
  std::vector<std::int64_t> all;
  for (const std::vector<std::int64_t>& samples : per_thread) {
    all.insert(all.end(), samples.begin(), samples.end());
  }
  std::sort(all.begin(), all.end());
  return all;
}

RunResult RunOnce(const std::string& variant, const Row& row) {
  std::unique_ptr<PoolUnderTest> pool = MakePool(variant, row.max_cap);
  const timespec hold{row.hold_us / 1000000, (row.hold_us % 1000000) * 1000L};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::int64_t>> waits(row.threads);
  std::vector<std::vector<std::int64_t>> loops(row.threads);
  std::vector<std::vector<std::int64_t>> puts(row.threads);
  std::vector<std::int64_t> held_ns(row.threads, 0);  // each thread's sum
  std::vector<std::uint64_t> cycles(row.threads, 0);
  std::atomic<std::uint64_t> timeouts{0};
  std::vector<std::thread> threads;
  threads.reserve(row.threads);
  for (int t = 0; t < row.threads; ++t) {
    threads.emplace_back([&, t] {
      prctl(PR_SET_TIMERSLACK, 1UL);
      std::vector<std::int64_t>& mine = waits[t];
      std::vector<std::int64_t>& my_loops = loops[t];
      std::vector<std::int64_t>& my_puts = puts[t];
      for (auto* samples : {&mine, &my_loops, &my_puts}) samples->reserve(1 << 12);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      // Bounded by the stop flag (set after --seconds) and by a count no run reaches.
      Clock::time_point last_start;
      for (std::uint64_t n = 0; n < (1ull << 32) && !stop.load(std::memory_order_relaxed); ++n) {
        const Clock::time_point began = Clock::now();
        if (n > 0) my_loops.push_back((began - last_start).count());
        last_start = began;
        nanoseconds wait{0};
        nanoseconds held{0};
        nanoseconds put{0};
        if (!pool->Cycle(hold, &wait, &held, &put)) {
          ++timeouts;
          continue;
        }
        mine.push_back(wait.count());
        my_puts.push_back(put.count());
        held_ns[t] += held.count();
        ++cycles[t];
      }
    });
  }
  const Clock::time_point start = Clock::now();
  const double cpu_start = ProcessCpuSeconds();
  const std::uint64_t switches_start = ProcessContextSwitches();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(FLAGS_seconds));
  stop.store(true);
  for (auto& thread : threads) thread.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = ProcessCpuSeconds() - cpu_start;
  const std::uint64_t switches = ProcessContextSwitches() - switches_start;

  RunResult result;
  result.variant = variant;
  std::vector<std::int64_t> all = SortedUnion(waits);
  std::vector<std::int64_t> all_loops = SortedUnion(loops);
  std::vector<std::int64_t> all_puts = SortedUnion(puts);
  // A cycle's wait + Put: each thread records both once per completed cycle, in step.
  std::vector<std::vector<std::int64_t>> in_pool(row.threads);
  for (int t = 0; t < row.threads; ++t) {
    std::transform(waits[t].begin(), waits[t].end(), puts[t].begin(),
                   std::back_inserter(in_pool[t]), std::plus<>());
  }
  std::vector<std::int64_t> all_in_pool = SortedUnion(in_pool);
  const std::uint64_t total = std::accumulate(cycles.begin(), cycles.end(), std::uint64_t{0});
  const auto [fewest, most] = std::minmax_element(cycles.begin(), cycles.end());
  result.cycles_per_s = static_cast<double>(total) / elapsed;
  result.wait_p50_ms = Percentile(all, 0.50);
  result.wait_p99_ms = Percentile(all, 0.99);
  result.wait_max_ms = all.empty() ? 0 : static_cast<double>(all.back()) / 1e6;
  result.loop_p50_ms = Percentile(all_loops, 0.50);
  result.loop_p99_ms = Percentile(all_loops, 0.99);
  result.put_p99_ms = Percentile(all_puts, 0.99);
  result.in_pool_p99_ms = Percentile(all_in_pool, 0.99);
  const auto mean_us = [total](const std::vector<std::int64_t>& values) {
    const double sum = std::accumulate(values.begin(), values.end(), 0.0);
    return total == 0 ? 0 : sum / 1e3 / static_cast<double>(total);
  };
  result.wait_mean_us = mean_us(all);
  result.held_mean_us = mean_us(held_ns);
  result.put_mean_us = mean_us(all_puts);
  result.fairness = *most == 0 ? 0 : static_cast<double>(*fewest) / static_cast<double>(*most);
  if (total > 0) {
    const double mean = static_cast<double>(total) / row.threads;
    double squares = 0;
    for (const std::uint64_t count : cycles) {
      squares += (static_cast<double>(count) - mean) * (static_cast<double>(count) - mean);
    }
    result.cycles_cv = std::sqrt(squares / row.threads) / mean;
  }
  result.timeouts = timeouts.load();
  result.cpu_us_per_cycle = total == 0 ? 0 : cpu * 1e6 / static_cast<double>(total);
  result.switches_per_cycle =
      total == 0 ? 0 : static_cast<double>(switches) / static_cast<double>(total);
  return result;
}

// A regime's targets against the hand-written pool of the same run.
struct Target {
  const char* regime;  // "moderate", "saturated", or nullptr: no target
  double min_speed;    // throughput at least this times the hand-written pool's
  double p99_scale;    // wait p99 at most p99_scale x its p99 + p99_slack_ms
  double p99_slack_ms;
  double min_fairness;
  std::string Check(const RunResult& pool, const RunResult& handwritten) const;
};

Target TargetOf(const Row& row) {
  if (static_cast<std::size_t>(row.threads) <= 4 * row.max_cap) {
    return {"moderate", 0.95, 1.0, 0.2, 0.8};
  }
  if (static_cast<std::size_t>(row.threads) >= 16 * row.max_cap) {
    return {"saturated", 0.75, 0.5, 0.0, 0.5};
  }
  return {nullptr, 0, 0, 0, 0};
}

std::string Target::Check(const RunResult& pool, const RunResult& handwritten) const {
  if (regime == nullptr) return "no target";
  const double speed = pool.cycles_per_s / handwritten.cycles_per_s;
  const double p99_limit = p99_scale * handwritten.wait_p99_ms + p99_slack_ms;
  std::string missed;
  char buffer[96];
  if (speed < min_speed) {
    std::snprintf(buffer, sizeof buffer, " throughput %.2fx < %.2fx;", speed, min_speed);
    missed += buffer;
  }
  if (pool.wait_p99_ms > p99_limit) {
    std::snprintf(buffer, sizeof buffer, " p99 %.2f ms > %.2f ms;", pool.wait_p99_ms, p99_limit);
    missed += buffer;
  }
  if (pool.fairness < min_fairness) {
    std::snprintf(buffer, sizeof buffer, " fairness %.2f < %.2f;", pool.fairness, min_fairness);
    missed += buffer;
  }
  return (missed.empty() ? "MET (" : "MISSED (") + std::string(regime) + ")" +
         (missed.empty() ? "" : ":" + missed);
}

void AppendJson(const Row& row, int round, const RunResult& r) {
  if (FLAGS_json.empty()) return;
  const nlohmann::json line = {{"row", row.Name()},
                               {"threads", row.threads},
                               {"max_cap", row.max_cap},
                               {"hold_us", row.hold_us},
                               {"round", round},
                               {"variant", r.variant},
                               {"cycles_per_s", r.cycles_per_s},
                               {"wait_p50_ms", r.wait_p50_ms},
                               {"wait_p99_ms", r.wait_p99_ms},
                               {"wait_max_ms", r.wait_max_ms},
                               {"loop_p50_ms", r.loop_p50_ms},
                               {"loop_p99_ms", r.loop_p99_ms},
                               {"put_p99_ms", r.put_p99_ms},
                               {"in_pool_p99_ms", r.in_pool_p99_ms},
                               {"wait_mean_us", r.wait_mean_us},
                               {"held_mean_us", r.held_mean_us},
                               {"put_mean_us", r.put_mean_us},
                               {"fairness", r.fairness},
                               {"cycles_cv", r.cycles_cv},
                               {"cpu_hogs", FLAGS_cpu_hogs},
                               {"timeouts", r.timeouts},
                               {"cpu_us_per_cycle", r.cpu_us_per_cycle},
                               {"switches_per_cycle", r.switches_per_cycle}};
  std::ofstream(FLAGS_json, std::ios::app) << line.dump() << "\n";
}

// One line of --dat: row, parked and locked throughput / hand-written's, the three wait p99s,
// the three wait + Put p99s.
void WriteDat(const Row& row, const std::vector<std::string>& variants,
              const std::vector<RunResult>& best) {
  if (FLAGS_dat.empty()) return;
  auto of = [&](const char* name) -> const RunResult* {
    const auto it = std::find(variants.begin(), variants.end(), name);
    return it == variants.end() ? nullptr : &best[it - variants.begin()];
  };
  const RunResult* parked = of("parked");
  const RunResult* locked = of("locked");
  const RunResult* handwritten = of("handwritten");
  if (parked == nullptr || locked == nullptr || handwritten == nullptr) {
    throw std::invalid_argument("--dat needs --variants=parked,locked,handwritten");
  }
  std::ofstream out(FLAGS_dat, std::ios::app);
  out << row.Name() << ' ' << parked->cycles_per_s / handwritten->cycles_per_s << ' '
      << locked->cycles_per_s / handwritten->cycles_per_s << ' ' << parked->wait_p99_ms << ' '
      << locked->wait_p99_ms << ' ' << handwritten->wait_p99_ms << ' ' << parked->in_pool_p99_ms
      << ' ' << locked->in_pool_p99_ms << ' ' << handwritten->in_pool_p99_ms << '\n';
}

int Main() {
  if (!(FLAGS_seconds >= 0.05 && FLAGS_seconds <= 60)) {
    throw std::invalid_argument("--seconds must be within 0.05..60");
  }
  if (FLAGS_rounds < 1 || FLAGS_rounds > 20) {
    throw std::invalid_argument("--rounds must be within 1..20");
  }
  std::vector<Row> rows;
  for (const std::string& text : Split(FLAGS_rows, ',')) rows.push_back(ParseRow(text));
  const std::vector<std::string> variants = Split(FLAGS_variants, ',');
  // Validates the names, and each variant against each row (stacked needs max_cap >= 2).
  for (const Row& row : rows) {
    for (const std::string& variant : variants) MakePool(variant, row.max_cap);
  }
  if (FLAGS_cpu_hogs < 0 || FLAGS_cpu_hogs > 64) {
    throw std::invalid_argument("--cpu_hogs must be within 0..64");
  }
  // Each row appends its line: a file left by an earlier run would be plotted with this one's.
  if (!FLAGS_dat.empty() && !std::ofstream(FLAGS_dat, std::ios::trunc)) {
    throw std::invalid_argument("--dat: cannot write " + FLAGS_dat);
  }
  // Long enough for every run, with a margin for the sorting between them.
  const auto runs = static_cast<double>(rows.size() * variants.size() * FLAGS_rounds);
  const std::chrono::seconds hogs_limit(static_cast<long>(runs * (FLAGS_seconds + 1)) + 60);
  const CpuHogs hogs(FLAGS_cpu_hogs, hogs_limit);
  if (!hogs.pids().empty()) {
    std::fprintf(stderr, "contention_bench: %zu CPU hogs running, pids", hogs.pids().size());
    for (const pid_t pid : hogs.pids()) std::fprintf(stderr, " %d", static_cast<int>(pid));
    std::fprintf(stderr, "\n");
  }

  std::printf("%-11s %-11s %9s %7s %7s %7s %8s %8s %7s %7s %7s %7s %7s %8s %6s %5s %8s  %s\n",
              "row", "variant", "cycles/s", "p50 ms", "p99 ms", "max ms", "loop p50", "loop p99",
              "put p99", "get+put", "wait us", "held us", "put us", "fairness", "cpu us", "csw",
              "timeouts", "target vs handwritten");
  for (const Row& row : rows) {
    std::vector<RunResult> best(variants.size());
    for (int round = 0; round < FLAGS_rounds; ++round) {
      for (std::size_t v = 0; v < variants.size(); ++v) {
        const RunResult result = RunOnce(variants[v], row);
        AppendJson(row, round, result);
        if (result.cycles_per_s > best[v].cycles_per_s) best[v] = result;
      }
    }
    const auto handwritten = std::find(variants.begin(), variants.end(), "handwritten");
    WriteDat(row, variants, best);
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const RunResult& r = best[v];
      std::string target;
      if (handwritten != variants.end() && variants[v] != "handwritten") {
        const RunResult& base = best[handwritten - variants.begin()];
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.2fx, ", r.cycles_per_s / base.cycles_per_s);
        target = ratio + TargetOf(row).Check(r, base);
      }
      std::printf(
          "%-11s %-11s %9.0f %7.3f %7.3f %7.2f %8.3f %8.3f %7.3f %7.3f %7.1f %7.1f %7.1f %8.2f "
          "%6.1f %5.2f %8llu  %s\n",
          row.Name().c_str(), variants[v].c_str(), r.cycles_per_s, r.wait_p50_ms, r.wait_p99_ms,
          r.wait_max_ms, r.loop_p50_ms, r.loop_p99_ms, r.put_p99_ms, r.in_pool_p99_ms,
          r.wait_mean_us, r.held_mean_us, r.put_mean_us, r.fairness, r.cpu_us_per_cycle,
          r.switches_per_cycle, static_cast<unsigned long long>(r.timeouts), target.c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace thriftpool

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "contention_bench [--rows=T/C/H,...] [--seconds=S] [--rounds=N] [--variants=...] "
      "[--cpu_hogs=N] [--json=FILE]\nMany threads on few objects: ChannelPool against a "
      "hand-written pool.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  try {
    return thriftpool::bench::Main();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "contention_bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "contention_bench: %s\n", e.what());
    return 1;
  }
}
