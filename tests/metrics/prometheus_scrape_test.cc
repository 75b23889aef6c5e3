// A real Prometheus (Debian's prometheus package) scrapes user_client's --metrics-port every
// second during a run against a real user_server; the test then asks Prometheus's HTTP API what
// it stored and checks it against the client's own JSON report: the thriftpool_* series are
// there, samples taken after the run equal the report's figures, and a sample from during the run
// shows the count rising.
//
// Prometheus starts on 127.0.0.1 with a free port and a temporary storage directory, configured to
// scrape a port the test picked for the client; the client starts once Prometheus has tried that
// target (service discovery would pass a port chosen by the client on only after up to 5 s, most
// of a short run). Every wait is bounded; Prometheus is stopped (SIGTERM, then SIGKILL) and the
// directory removed whatever happens.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "http_test_client.h"
#include "support/child_process.h"
#include "support/loopback_port.h"
#include "support/temp_dir.h"

namespace thriftpool::metrics_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_support::ChildProcess;
using testing_support::FreeLoopbackPort;
using testing_support::TempDir;

using Clock = std::chrono::steady_clock;

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void WriteFile(const fs::path& path, const std::string& text) {
  // Written beside and renamed, so that Prometheus never reads half a file.
  const fs::path temporary = path.string() + ".tmp";
  std::ofstream(temporary) << text;
  fs::rename(temporary, path);
}

// One Prometheus process scraping 127.0.0.1:`target_port` every second, as job user_client.
class Prometheus {
 public:
  Prometheus(const fs::path& dir, int target_port) {
    WriteFile(dir / "prometheus.yml",
              "global:\n"
              "  scrape_interval: 1s\n"
              "  scrape_timeout: 1s\n"
              "scrape_configs:\n"
              "  - job_name: user_client\n"
              "    static_configs:\n"
              "      - targets: ['127.0.0.1:" +
                  std::to_string(target_port) + "']\n");
    // The free port may be taken again before Prometheus binds it: then it exits, and the next
    // try picks another.
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
      port_ = FreeLoopbackPort();
      try {
        process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
            "prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
            "--storage.tsdb.path=" + (dir / "data").string(),
            "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
      } catch (const std::system_error& e) {
        ADD_FAILURE() << "cannot start prometheus (Debian package prometheus; ./run installs it): "
                      << e.what();
        return;
      }
      ready_ = WaitReady();
      if (!ready_) Stop();
    }
  }
  ~Prometheus() { Stop(); }

  bool ready() const { return ready_; }
  std::string log() const { return process_ ? process_->err() : ""; }

  // Waits (20 s at most) until Prometheus has tried to scrape its target once (it is down until
  // the client starts): from then on it scrapes every second.
  bool WaitTargetTried() {
    const Clock::time_point deadline = Clock::now() + seconds(20);
    while (Clock::now() < deadline) {
      const json data = Api("targets", "state=active");
      if (!data.is_null()) {
        for (const json& target : data["activeTargets"]) {
          if (target.value("health", "unknown") != "unknown") return true;
        }
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }

  // GET /api/v1/<endpoint>?<query>; the "data" of a successful answer, or null.
  json Api(const std::string& endpoint, const std::string& query) {
    const std::optional<HttpResponse> response =
        HttpGet(port_, "/api/v1/" + endpoint + "?" + query, seconds(10));
    if (!response || response->status != 200) {
      ADD_FAILURE() << endpoint << "?" << query << ": "
                    << (response ? std::to_string(response->status) + " " + response->body
                                 : "no answer");
      return nullptr;
    }
    const json answer = json::parse(response->body, nullptr, false);
    if (!answer.is_object() || answer.value("status", "") != "success") {
      ADD_FAILURE() << endpoint << "?" << query << ": " << response->body;
      return nullptr;
    }
    return answer["data"];
  }

  // An instant query of a range selector: every stored sample of each matching series.
  json Samples(const std::string& selector) {
    const json data = Api("query", "query=" + UrlEncode(selector + "[10m]") +
                                       "&time=" + std::to_string(WallSeconds()));
    if (data.is_null() || data.value("resultType", "") != "matrix") return json::array();
    return data["result"];
  }

 private:
  bool WaitReady() {
    const Clock::time_point deadline = Clock::now() + seconds(30);
    while (Clock::now() < deadline) {
      const std::optional<HttpResponse> response = HttpGet(port_, "/-/ready", seconds(2));
      if (response && response->status == 200) return true;
      if (process_->Wait(milliseconds(100)).has_value()) return false;  // exited
    }
    return false;
  }

  void Stop() {
    if (!process_ || process_->exited()) return;
    process_->Signal(SIGTERM);
    if (!process_->Wait(seconds(10)).has_value()) process_->Signal(SIGKILL);
    process_->Wait(seconds(10));
  }

  int port_ = 0;
  bool ready_ = false;
  std::unique_ptr<ChildProcess> process_;
};

// A sample: [unix time in seconds, "value"].
double TimeOf(const json& sample) { return sample.at(0).get<double>(); }
double ValueOf(const json& sample) { return std::stod(sample.at(1).get<std::string>()); }

// The one series of `result` whose labels include `label`=`value`; null if none.
json SeriesWith(const json& result, const std::string& label, const std::string& value) {
  for (const json& series : result) {
    if (series["metric"].value(label, "") == value) return series;
  }
  return nullptr;
}

TEST(PrometheusScrapeTest, ScrapedSeriesAgreeWithTheClientsReport) {
  TempDir dir("thriftpool-prometheus");
  ASSERT_FALSE(dir.path().empty());
  const int metrics_port = FreeLoopbackPort();
  ASSERT_GT(metrics_port, 0);
  Prometheus prometheus(dir.path(), metrics_port);
  ASSERT_TRUE(prometheus.ready()) << "prometheus did not become ready: " << prometheus.log();
  ASSERT_TRUE(prometheus.WaitTargetTried()) << prometheus.log();

  ChildProcess server({USER_SERVER_PATH, "--port=0"});
  const std::optional<std::string> listening = server.ReadLine(seconds(10));
  ASSERT_TRUE(listening && listening->rfind("listening on ", 0) == 0) << server.err();
  const std::string server_address = listening->substr(std::string("listening on ").size());

  ChildProcess client({USER_CLIENT_PATH, "--server", server_address, "--threads", "2",
                       "--duration-s", "4", "--metrics-port", std::to_string(metrics_port),
                       "--metrics-linger-ms", "3500", "--json"});
  const std::optional<std::string> url_line = client.ReadLine(seconds(10));
  ASSERT_EQ(url_line.value_or(""),
            "metrics: http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics")
      << client.out() << client.err();

  // The report is the last line; the run ended (and the pool was released) before it.
  std::optional<std::string> line;
  while ((line = client.ReadLine(seconds(30))) && (line->empty() || line->front() != '{')) {
  }
  const double report_time = WallSeconds();
  ASSERT_TRUE(line.has_value()) << client.out() << client.err();
  const json report = json::parse(*line);
  const std::optional<int> status = client.Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << client.err();
  ASSERT_GT(report.value("ok", 0), 0) << *line;

  // Every family the pool exposes was stored.
  const json names =
      prometheus.Api("label/__name__/values", "match[]=" + UrlEncode("{job=\"user_client\"}"));
  for (const char* name :
       {"thriftpool_connections", "thriftpool_connections_max", "thriftpool_waiting_gets",
        "thriftpool_connections_created_total", "thriftpool_connections_closed_total",
        "thriftpool_connect_failures_total", "thriftpool_wait_timeouts_total",
        "thriftpool_leaks_detected_total", "thriftpool_acquire_seconds_bucket",
        "thriftpool_usage_seconds_count", "thriftpool_connect_seconds_sum",
        "thriftpool_calls_total", "thriftpool_retries_total", "thriftpool_retries_denied_total",
        "thriftpool_call_duration_seconds_bucket", "thriftpool_call_duration_seconds_count"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end())
        << name << " not in " << names.dump();
  }

  // Each series' samples taken after the report equal its final figure; at least one exists.
  // Returns the sum of those final figures over the matching series.
  const auto final_sum = [&](const std::string& selector) {
    const json result = prometheus.Samples(selector);
    EXPECT_FALSE(result.empty()) << selector;
    double sum = 0;
    for (const json& series : result) {
      const json& samples = series["values"];
      const double last = ValueOf(samples.back());
      EXPECT_GT(TimeOf(samples.back()), report_time)
          << selector << ": no scrape after the run: " << series.dump();
      for (const json& sample : samples) {
        if (TimeOf(sample) > report_time) {
          EXPECT_EQ(ValueOf(sample), last) << series.dump();
        }
      }
      sum += last;
    }
    return sum;
  };
  const std::string pool = "{pool=\"user_client\",job=\"user_client\"}";
  EXPECT_EQ(final_sum("thriftpool_calls_total" + pool), report.at("requests").get<double>());
  EXPECT_EQ(final_sum("thriftpool_calls_total{pool=\"user_client\",outcome=\"ok\"}"),
            report.at("ok").get<double>());
  EXPECT_EQ(final_sum("thriftpool_call_duration_seconds_count" + pool),
            report.at("requests").get<double>());
  EXPECT_EQ(final_sum("thriftpool_connections_created_total" + pool),
            report.at("connections_created").get<double>());
  EXPECT_EQ(final_sum("thriftpool_connections_closed_total" + pool),
            report.at("connections_closed").get<double>());
  EXPECT_EQ(final_sum("thriftpool_retries_total" + pool), report.at("retries").get<double>());
  EXPECT_EQ(final_sum("thriftpool_connections_max" + pool),
            report["pool_options"].at("max_cap").get<double>());
  EXPECT_EQ(final_sum("thriftpool_connections{pool=\"user_client\",state=\"in_use\"}"), 0);

  // Scraped during the run too: a sample between none and all of the calls.
  const json ok = SeriesWith(prometheus.Samples("thriftpool_calls_total{outcome=\"ok\"}"), "pool",
                             "user_client");
  ASSERT_FALSE(ok.is_null());
  bool mid_run = false;
  for (const json& sample : ok["values"]) {
    mid_run = mid_run || (ValueOf(sample) > 0 && ValueOf(sample) < report.at("ok").get<double>());
  }
  EXPECT_TRUE(mid_run) << "no sample from during the run: " << ok.dump();
  // What Prometheus returned, for the record.
  std::cout << "prometheus: thriftpool_calls_total{outcome=\"ok\"} samples " << ok["values"].dump()
            << "; report ok " << report.at("ok") << ", requests " << report.at("requests")
            << ", connections_created " << report.at("connections_created") << std::endl;

  server.Signal(SIGTERM);
  EXPECT_TRUE(server.Wait(seconds(10)).has_value());
}

}  // namespace
}  // namespace thriftpool::metrics_test
