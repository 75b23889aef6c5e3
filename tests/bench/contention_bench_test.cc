// bench/micro/contention_bench, run briefly: every variant's line (the control's judged against
// the hand-written pool), the --json and --dat records hold what they say (a cycle's wait + Put
// is never shorter than its wait or its Put alone; the means of wait, hold and Put fit in the
// mean loop), --cpu_hogs' processes burn CPU and end with the run, and bad flags exit 2 naming
// the flag.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace thriftpool {
namespace {

using testing_support::ProcessResult;
using testing_support::RunProcess;
using testing_support::TempDir;

ProcessResult RunBench(std::vector<std::string> args) {
  args.insert(args.begin(), CONTENTION_BENCH_PATH);
  return RunProcess(args, std::chrono::seconds(60));
}

std::vector<std::string> LinesOf(std::istream& in) {
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Lines(const std::string& text) {
  std::istringstream in(text);
  return LinesOf(in);
}

// The lines of the file at `path` (none if it cannot be read).
std::vector<std::string> FileLines(const std::string& path) {
  std::ifstream in(path);
  return LinesOf(in);
}

// The --json file's records, one a line.
std::vector<nlohmann::json> JsonRecords(const std::string& path) {
  std::vector<nlohmann::json> records;
  for (const std::string& line : FileLines(path)) records.push_back(nlohmann::json::parse(line));
  return records;
}

TEST(ContentionBenchTest, ReportsEveryVariantAndWritesConsistentRecords) {
  TempDir dir("contention_bench_test");
  const std::string json = (dir.path() / "runs.json").string();
  const std::string dat = (dir.path() / "rows.dat").string();
  const ProcessResult run = RunBench(
      {"--rows=4/2/10,8/2/0", "--seconds=0.1", "--rounds=2", "--json=" + json, "--dat=" + dat});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = Lines(run.out);
  ASSERT_EQ(lines.size(), 1u + 2 * 3) << run.out;  // the header, then 3 variants per row
  EXPECT_NE(lines[0].find("get+put"), std::string::npos) << lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const char* variant = i % 3 == 1 ? "parked" : i % 3 == 2 ? "locked" : "handwritten";
    EXPECT_EQ(lines[i].rfind(i <= 3 ? "4/2/10 " : "8/2/0 ", 0), 0u);
    EXPECT_NE(lines[i].find(variant), std::string::npos);
    // Both rows are moderate (threads <= 4 x max_cap): each ChannelPool line says how it did.
    const bool judged = lines[i].find("MET (moderate)") != std::string::npos ||
                        lines[i].find("MISSED (moderate)") != std::string::npos;
    EXPECT_EQ(judged, i % 3 != 0);
  }

  const std::vector<nlohmann::json> records = JsonRecords(json);
  for (const nlohmann::json& r : records) {
    SCOPED_TRACE(r.dump());
    EXPECT_GT(r.at("cycles_per_s").get<double>(), 0);
    EXPECT_GE(r.at("in_pool_p99_ms").get<double>(), r.at("wait_p99_ms").get<double>());
    EXPECT_GE(r.at("in_pool_p99_ms").get<double>(), r.at("put_p99_ms").get<double>());
    EXPECT_GE(r.at("wait_max_ms").get<double>(), r.at("wait_p99_ms").get<double>());
    EXPECT_GE(r.at("loop_p99_ms").get<double>(), r.at("loop_p50_ms").get<double>());
    // Every completed cycle's wait, hold and Put lie within the run, for each thread: their
    // means add up to at most the mean loop, threads / throughput. The hold includes the sleep.
    const double wait_us = r.at("wait_mean_us").get<double>();
    const double held_us = r.at("held_mean_us").get<double>();
    const double put_us = r.at("put_mean_us").get<double>();
    EXPECT_GE(wait_us, 0);
    EXPECT_GE(put_us, 0);
    EXPECT_GE(held_us, r.at("hold_us").get<double>());
    EXPECT_LE(wait_us + held_us + put_us,
              r.at("threads").get<double>() * 1e6 / r.at("cycles_per_s").get<double>());
    const double fairness = r.at("fairness").get<double>();
    EXPECT_GT(fairness, 0);
    EXPECT_LE(fairness, 1);
    // No count lies further from the mean than sqrt(threads - 1) standard deviations, so the
    // spread bounds how far apart the fewest and the most can be.
    const double spread =
        r.at("cycles_cv").get<double>() * std::sqrt(r.at("threads").get<double>() - 1);
    EXPECT_GE(r.at("cycles_cv").get<double>(), 0);
    EXPECT_GE(fairness + 1e-9, (1 - spread) / (1 + spread));
  }
  EXPECT_EQ(records.size(), 2u * 2 * 3);  // rows x rounds x variants

  const std::vector<std::string> dat_lines = FileLines(dat);
  ASSERT_EQ(dat_lines.size(), 2u);
  for (const std::string& line : dat_lines) {
    std::istringstream fields(line);
    std::string row;
    std::vector<double> values;
    fields >> row;
    for (double value; fields >> value;) values.push_back(value);
    EXPECT_EQ(values.size(), 8u) << line;  // 2 throughput ratios, 3 wait p99s, 3 wait + Put p99s
    for (int v = 0; v < 3 && values.size() == 8u; ++v) {
      EXPECT_GE(values[5 + v], values[2 + v]) << "wait + Put p99 below wait p99: " << line;
    }
  }
}

// Runs the benchmark with `args` and a --json file, expects it to exit 0 with every run serving
// every Get (cycles done, no timeout, every thread served), and returns its output and records.
struct ServedRun {
  std::string out;
  std::vector<nlohmann::json> records;
};
ServedRun RunServingEveryGet(std::vector<std::string> args) {
  TempDir dir("contention_bench_test");
  const std::string json = (dir.path() / "runs.json").string();
  args.push_back("--json=" + json);
  const ProcessResult run = RunBench(args);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  ServedRun served{run.out, JsonRecords(json)};
  for (const nlohmann::json& r : served.records) {
    SCOPED_TRACE(r.dump());
    EXPECT_GT(r.at("cycles_per_s").get<double>(), 0);
    EXPECT_EQ(r.at("timeouts").get<int>(), 0);
    EXPECT_GT(r.at("fairness").get<double>(), 0);
  }
  return served;
}

// The three models that are not run by default (handshake_pool.h, bounded_barging_pool.h,
// paced_fifo_pool.h) serve every Get: with 8 threads on 2 objects some Gets wait, past the
// bounded model's 1 ms hand-off bound too, and none of them times out (the wait limit is 2 s).
TEST(ContentionBenchTest, TheModelVariantsServeEveryGet) {
  const ServedRun run = RunServingEveryGet({"--rows=8/2/200,3/1/0", "--seconds=0.2", "--rounds=1",
                                            "--variants=handshake,bounded,paced"});
  EXPECT_EQ(run.records.size(), 2u * 3);  // rows x variants
  for (const nlohmann::json& r : run.records) {
    // In the bounded model, a Get that waited longer than 1 ms was served as a due waiter.
    if (r.at("threads").get<int>() == 8) {
      EXPECT_GT(r.at("wait_max_ms").get<double>(), 1.0) << r.dump();
    }
  }
}

// The variants not run by default, stacked (every Get and Put under the pool's lock) and strict
// (hand_off_after 0), serve every Get and are judged against the hand-written pool like the
// other ChannelPool variants.
TEST(ContentionBenchTest, TheStackedAndStrictVariantsServeEveryGetAndAreJudged) {
  for (const std::string variant : {"stacked", "strict"}) {
    SCOPED_TRACE(variant);
    const ServedRun run = RunServingEveryGet({"--rows=8/2/200", "--seconds=0.2", "--rounds=1",
                                              "--variants=" + variant + ",handwritten"});
    EXPECT_EQ(run.records.size(), 2u);  // rows x variants
    const std::vector<std::string> lines = Lines(run.out);
    ASSERT_EQ(lines.size(), 1u + 2) << run.out;  // the header, then 2 variants
    EXPECT_NE(lines[1].find(" " + variant + " "), std::string::npos) << run.out;
    EXPECT_NE(lines[1].find("x, "), std::string::npos) << run.out;  // its ratio to handwritten
    EXPECT_TRUE(lines[1].find("MET (moderate)") != std::string::npos ||
                lines[1].find("MISSED (moderate)") != std::string::npos)
        << run.out;
  }
}

// The control is a second hand-written pool, judged against the first as the pool's variants are
// (its ratio and verdict are the run's noise): its lines carry both, the hand-written pool's not.
TEST(ContentionBenchTest, TheControlIsJudgedAgainstTheHandWrittenPool) {
  const ProcessResult run = RunBench(
      {"--rows=8/2/0,32/2/0", "--seconds=0.1", "--rounds=1", "--variants=control,handwritten"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = Lines(run.out);
  ASSERT_EQ(lines.size(), 1u + 2 * 2) << run.out;  // the header, then 2 variants per row
  for (std::size_t i = 1; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const bool control = i % 2 == 1;
    EXPECT_NE(lines[i].find(control ? " control " : " handwritten "), std::string::npos);
    const char* regime = i <= 2 ? "moderate)" : "saturated)";  // 8 on 2, then 32 on 2
    const bool judged = lines[i].find("MET (" + std::string(regime)) != std::string::npos ||
                        lines[i].find("MISSED (" + std::string(regime)) != std::string::npos;
    EXPECT_EQ(judged, control);
    EXPECT_EQ(lines[i].find("x, ") != std::string::npos, control);
  }
}

double ChildrenCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The hogs are the benchmark's children, reaped by it, so their CPU time reaches this process's
// RUSAGE_CHILDREN with the benchmark's own when RunProcess reaps the benchmark.
TEST(ContentionBenchTest, CpuHogsBurnCpuBesideTheRunAndEndWithIt) {
  TempDir dir("contention_bench_test");
  const std::string json = (dir.path() / "runs.json").string();
  const double cpu_before = ChildrenCpuSeconds();
  // Threads that sleep 2 ms per cycle use little CPU themselves: nearly all is the hogs'.
  const ProcessResult run = RunBench(
      {"--rows=2/1/2000", "--seconds=0.3", "--rounds=1", "--cpu_hogs=2", "--json=" + json});
  const double cpu_used = ChildrenCpuSeconds() - cpu_before;
  ASSERT_EQ(run.exit_code, 0) << run.err;

  const std::string announced = "contention_bench: 2 CPU hogs running, pids";
  const std::size_t at = run.err.find(announced);
  ASSERT_NE(at, std::string::npos) << run.err;
  std::istringstream pid_text(run.err.substr(at + announced.size()));
  std::vector<pid_t> pids;
  for (int pid; pids.size() < 2 && pid_text >> pid;) pids.push_back(pid);
  ASSERT_EQ(pids.size(), 2u) << run.err;
  for (const pid_t pid : pids) {
    EXPECT_EQ(kill(pid, 0), -1) << "hog " << pid << " outlived the benchmark";
    EXPECT_EQ(errno, ESRCH);
  }

  const std::vector<nlohmann::json> records = JsonRecords(json);
  double bench_cpu = 0;
  for (const nlohmann::json& r : records) {
    EXPECT_EQ(r.at("cpu_hogs").get<int>(), 2) << r.dump();
    bench_cpu +=
        r.at("cpu_us_per_cycle").get<double>() * r.at("cycles_per_s").get<double>() * 0.3 / 1e6;
  }
  EXPECT_EQ(records.size(), 3u);
  // Three runs of 0.3 s or more, through which two hogs spin: 0.9 s of their CPU time on one CPU
  // alone, twice that on two.
  EXPECT_GE(cpu_used - bench_cpu, 0.6)
      << "children's CPU " << cpu_used << " s, the benchmark's " << bench_cpu << " s of it";
}

// --dat is rewritten, not appended to: a second run leaves one line per row, its own.
TEST(ContentionBenchTest, ASecondRunRewritesTheDatFile) {
  TempDir dir("contention_bench_test");
  const std::string dat = (dir.path() / "rows.dat").string();
  for (int run = 0; run < 2; ++run) {
    const ProcessResult result =
        RunBench({"--rows=2/1/0", "--seconds=0.05", "--rounds=1", "--dat=" + dat});
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  const std::vector<std::string> lines = FileLines(dat);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("2/1/0 ", 0), 0u) << lines[0];
}

TEST(ContentionBenchTest, BadFlagsExit2NamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--rows=4/2", "--rows"},
      {"--rows=0/2/10", "--rows"},
      {"--rows=4/2/x", "--rows"},
      {"--seconds=0", "--seconds"},
      {"--seconds=nan", "--seconds"},
      {"--rounds=0", "--rounds"},
      {"--variants=parked,fast", "--variants"},
      {"--variants=stacked", "stacked needs max_cap >= 2"},  // the row is 2/1/0
      {"--dat=/nonexistent-dir/rows.dat", "--dat"},
      {"--cpu_hogs=-1", "--cpu_hogs"},
      {"--cpu_hogs=65", "--cpu_hogs"},
  };
  for (const auto& [flag, named] : cases) {
    SCOPED_TRACE(flag);
    // Last: a later flag overrides an earlier one.
    const ProcessResult run = RunBench({"--seconds=0.05", "--rounds=1", "--rows=2/1/0", flag});
    EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
    EXPECT_NE(run.err.find(named), std::string::npos) << run.err;
  }
  TempDir dir("contention_bench_test");
  const ProcessResult dat_without_handwritten =
      RunBench({"--rows=2/1/0", "--seconds=0.05", "--rounds=1", "--variants=parked",
                "--dat=" + (dir.path() / "rows.dat").string()});
  EXPECT_EQ(dat_without_handwritten.exit_code, 2);
  EXPECT_NE(dat_without_handwritten.err.find("--dat"), std::string::npos)
      << dat_without_handwritten.err;
}

}  // namespace
}  // namespace thriftpool
