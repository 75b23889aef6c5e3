#include "load_loop.h"

#include <cxxabi.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/transport_error.h>

#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <vector>

#include "user_service_types.h"

namespace thriftpool::tool {
namespace {

using Clock = std::chrono::steady_clock;
using apache::thrift::transport::TTransportException;

// The exception's dynamic type without its namespaces, e.g. "PoolTimeoutError".
std::string ShortTypeName(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  std::string name = status == 0 ? demangled.get() : type.name();
  const std::size_t colons = name.rfind("::");
  return colons == std::string::npos ? name : name.substr(colons + 2);
}

// Call only inside a catch block. Transport errors carry their kind, which tells a refused
// connect (NOT_OPEN) from a timeout or a dropped connection.
std::string CauseOfCurrentException() {
  try {
    throw;
  } catch (const TTransportException& e) {
    return "TTransportException(" + std::string(TransportErrorKind(e.getType())) + ")";
  } catch (const std::exception& e) {
    return ShortTypeName(typeid(e));
  } catch (...) {
    return "unknown exception";
  }
}

// One load thread's counts, on a cache line of its own: the hot path writes only here.
struct alignas(64) Worker {
  // Written by the worker, read by the progress display.
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::uint64_t ok = 0;
  std::uint64_t wrong_answers = 0;
  std::map<std::string, std::uint64_t> failures_by_cause;
  std::string first_wrong_answer;
  LatencyHistogram latency;
  Clock::time_point finished_at;
  std::exception_ptr setup_error;
};

// The start line: every thread makes its caller, then all start together, so that no thread's
// setup (raw mode's connect) lands inside another's timed run.
class StartGate {
 public:
  explicit StartGate(int threads) : not_ready_(threads) {}
  // Worker side: reports ready, blocks until the gate opens, and returns when that was; nullopt
  // when the run was called off instead.
  std::optional<Clock::time_point> ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (--not_ready_ == 0) cv_.notify_all();
    cv_.wait(lock, [this] { return open_ || called_off_; });
    if (called_off_) return std::nullopt;
    return start_;
  }
  // Coordinator side, instead of WaitAllThenOpen: releases the workers that arrived (or will)
  // without a run, e.g. when the other threads could not be started.
  void CallOff() {
    std::lock_guard<std::mutex> lock(mu_);
    called_off_ = true;
    cv_.notify_all();
  }
  // Coordinator side: waits for every worker, then lets them go; returns the start time.
  Clock::time_point WaitAllThenOpen() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return not_ready_ == 0; });
    start_ = Clock::now();
    open_ = true;
    cv_.notify_all();
    return start_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int not_ready_;
  bool open_ = false;
  bool called_off_ = false;
  Clock::time_point start_;
};

bool IsRightAnswer(const example::User& user, std::int64_t id) {
  if (user.id != id) return false;
  // "user-" + id without a heap allocation: ids of up to 10 digits fit the small-string buffer.
  const std::string expected = "user-" + std::to_string(id);
  return user.name == expected;
}

void RunWorker(const LoadSpec& spec, int index, std::optional<std::int64_t> quota,
               ClientSource& source, const std::atomic<bool>& stop, StartGate& gate, Worker& w) {
  std::unique_ptr<UserCaller> caller;
  try {
    caller = source.NewCaller();
  } catch (...) {
    w.setup_error = std::current_exception();
  }
  const std::optional<Clock::time_point> start = gate.ArriveAndWait();
  if (caller == nullptr || !start) return;
  std::optional<Clock::time_point> deadline;
  if (spec.duration) {
    deadline = *start + std::chrono::duration_cast<Clock::duration>(*spec.duration);
  }
  std::mt19937_64 rng(spec.seed + static_cast<std::uint64_t>(index));
  std::uniform_int_distribution<std::int64_t> ids(1, spec.users);
  example::User user;
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  for (Clock::time_point now = Clock::now(); !stop.load(std::memory_order_relaxed);) {
    if (quota && static_cast<std::int64_t>(done) >= *quota) break;
    if (deadline && now >= *deadline) break;
    const std::int64_t id = ids(rng);
    // Cleared so that a reply that leaves a field unset cannot pass with a previous value.
    user.id = 0;
    user.name.clear();
    const Clock::time_point begin = Clock::now();
    try {
      caller->GetUser(user, id);
      now = Clock::now();
      w.latency.Record(now - begin);
      if (IsRightAnswer(user, id)) {
        ++w.ok;
      } else if (w.wrong_answers++ == 0) {
        w.first_wrong_answer = "getUser(" + std::to_string(id) + ") returned id " +
                               std::to_string(user.id) + ", name '" + user.name + "'";
      }
    } catch (...) {
      now = Clock::now();
      ++w.failures_by_cause[CauseOfCurrentException()];
      w.failed.store(++failed, std::memory_order_relaxed);
    }
    w.done.store(++done, std::memory_order_relaxed);
  }
  w.finished_at = Clock::now();
  caller.reset();  // closes raw mode's connection here, on its own thread, after the clock stops
}

}  // namespace

std::uint64_t LoadResult::failed() const {
  std::uint64_t total = 0;
  for (const auto& [cause, count] : failures_by_cause) total += count;
  return total;
}

LoadResult RunLoad(const LoadSpec& spec, ClientSource& source, const std::atomic<bool>& stop,
                   const std::function<void(const LoadProgress&)>& on_progress,
                   std::chrono::milliseconds progress_interval) {
  const int threads = spec.threads;
  std::vector<Worker> workers(threads);
  StartGate gate(threads);
  std::mutex done_mu;
  std::condition_variable done_cv;
  int running = threads;

  std::vector<std::thread> load_threads;
  load_threads.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    std::optional<std::int64_t> quota;
    if (spec.requests) quota = *spec.requests / threads + (i < *spec.requests % threads ? 1 : 0);
    try {
      load_threads.emplace_back([&, i, quota] {
        RunWorker(spec, i, quota, source, stop, gate, workers[i]);
        std::lock_guard<std::mutex> lock(done_mu);
        if (--running == 0) done_cv.notify_all();
      });
    } catch (const std::system_error& e) {
      // Out of threads (RLIMIT_NPROC, memory for stacks, a cgroup's pids.max). The threads
      // started so far wait at the gate: let them go and join them, or destroying them would
      // end the process.
      gate.CallOff();
      for (std::thread& t : load_threads) t.join();
      throw std::runtime_error("cannot start load thread " + std::to_string(i + 1) + " of " +
                               std::to_string(threads) + ": " + e.what());
    }
  }
  const Clock::time_point start = gate.WaitAllThenOpen();
  {
    std::unique_lock<std::mutex> lock(done_mu);
    while (!done_cv.wait_for(lock, progress_interval, [&] { return running == 0; })) {
      if (!on_progress) continue;
      LoadProgress progress;
      for (const Worker& w : workers) {
        progress.done += w.done.load(std::memory_order_relaxed);
        progress.failed += w.failed.load(std::memory_order_relaxed);
      }
      progress.elapsed = Clock::now() - start;
      lock.unlock();
      on_progress(progress);
      lock.lock();
    }
  }
  for (std::thread& t : load_threads) t.join();

  LoadResult result;
  Clock::time_point end = start;
  for (Worker& w : workers) {
    if (w.setup_error) std::rethrow_exception(w.setup_error);
    result.ok += w.ok;
    result.wrong_answers += w.wrong_answers;
    for (const auto& [cause, count] : w.failures_by_cause) result.failures_by_cause[cause] += count;
    if (result.first_wrong_answer.empty()) result.first_wrong_answer = w.first_wrong_answer;
    result.latency.Merge(w.latency);
    end = std::max(end, w.finished_at);
  }
  result.elapsed = end - start;
  result.stopped = stop.load();
  return result;
}

}  // namespace thriftpool::tool
