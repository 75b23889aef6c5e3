// EtcdEndpointWatcher against a real etcd: the set as etcd has it, changes within a second,
// malformed values skipped and counted, the last set kept while etcd is down, and found again
// once it is back; a watch that goes silent (a relay in front of etcd stops passing bytes) found
// by the check; a stalled etcd and bad options never hang or crash.
#include <gtest/gtest.h>
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/etcd_endpoint_watcher.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd_process.h"
#include "support/relay.h"
#include "support/silent_listener.h"
#include "support/wait_for.h"

namespace thriftpool::discovery {
namespace {

using std::chrono::milliseconds;
using testing_support::EtcdProcess;
using testing_support::WaitFor;
using Clock = std::chrono::steady_clock;

constexpr char kService[] = "users";

std::string Key(int port) { return ServicePrefix(kService) + "127.0.0.1:" + std::to_string(port); }

void Register(const EtcdProcess& etcd, int port, int weight = 1) {
  etcd.Put(Key(port), EndpointValue({"127.0.0.1", port, weight}));
}

// The sets handed to on_change, in order.
class Recorder {
 public:
  EtcdEndpointWatcher::OnChange Callback() {
    return [this](const std::vector<Endpoint>& set) {
      std::lock_guard<std::mutex> lock(mu_);
      sets_.push_back(set);
    };
  }
  std::vector<Endpoint> Last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sets_.empty() ? std::vector<Endpoint>{} : sets_.back();
  }
  std::size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sets_.size();
  }
  bool LastHasPorts(const std::vector<int>& ports) const {
    const std::vector<Endpoint> last = Last();
    if (last.size() != ports.size()) return false;
    for (std::size_t i = 0; i < ports.size(); ++i) {
      if (last[i].port != ports[i]) return false;
    }
    return true;
  }
  // Waits until the last set is exactly `ports`, in order; false if `timeout` passed first.
  bool WaitForPorts(const std::vector<int>& ports, milliseconds timeout) const {
    return WaitFor([&] { return LastHasPorts(ports); }, timeout);
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<Endpoint>> sets_;
};

// The options every test here uses; check_interval as given, or the default.
EtcdEndpointWatcher::Options WatchOptions(
    const std::string& url,
    milliseconds check_interval = EtcdEndpointWatcher::Options{}.check_interval) {
  EtcdEndpointWatcher::Options options;
  options.etcd.url = url;
  options.check_interval = check_interval;
  options.etcd.request_timeout = milliseconds(500);
  options.service = kService;
  options.max_backoff = milliseconds(300);
  return options;
}

std::string RelayUrl(const testing_support::Relay& relay) {
  return "http://127.0.0.1:" + std::to_string(relay.port());
}

class EtcdWatcherTest : public ::testing::Test {
 protected:
  EtcdWatcherTest() { etcd_.Start(); }
  EtcdProcess etcd_;
  Recorder recorder_;
};

TEST_F(EtcdWatcherTest, ReadsTheSetThenFollowsPutsAndDeletes) {
  Register(etcd_, 9001);
  Register(etcd_, 9002, 5);
  etcd_.Put("/thriftpool/services/other/127.0.0.1:9999", EndpointValue({"127.0.0.1", 9999, 1}));
  EtcdEndpointWatcher watcher(WatchOptions(etcd_.url()), recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  EXPECT_EQ(watcher.Endpoints(),
            (std::vector<Endpoint>{{"127.0.0.1", 9001, 1}, {"127.0.0.1", 9002, 5}}));

  const auto put_at = Clock::now();
  Register(etcd_, 9003);
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002, 9003}, milliseconds(1000)))
      << "a new key is seen within a second";
  const auto put_seen_after = Clock::now() - put_at;
  etcd_.Delete(Key(9001));
  EXPECT_TRUE(recorder_.WaitForPorts({9002, 9003}, milliseconds(1000)));
  Register(etcd_, 9002, 7);  // a weight change is a change
  EXPECT_TRUE(
      WaitFor([&] { return recorder_.Last().size() == 2 && recorder_.Last()[0].weight == 7; },
              milliseconds(1000)));
  const EtcdEndpointWatcher::Stats stats = watcher.stats();
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.resyncs, 1);
  EXPECT_EQ(stats.endpoints, 2u);
  EXPECT_EQ(stats.revision, etcd_.Revision());
  std::cout << "[ FIGURE   ] a put reached on_change after "
            << std::chrono::duration_cast<std::chrono::microseconds>(put_seen_after).count()
            << " us" << std::endl;
}

TEST_F(EtcdWatcherTest, MalformedValuesAreSkippedOnceEachAndTheRestApplies) {
  Register(etcd_, 9001);
  etcd_.Put(Key(9002), "not json");
  EtcdEndpointWatcher watcher(WatchOptions(etcd_.url()), recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  EXPECT_TRUE(recorder_.LastHasPorts({9001}));
  EXPECT_EQ(watcher.stats().malformed_values, 1);

  etcd_.Put(Key(9003), R"({"host":"127.0.0.1","port":0})");  // a new revision of bad
  Register(etcd_, 9004);
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9004}, milliseconds(1000)));
  EXPECT_EQ(watcher.stats().malformed_values, 2);
  Register(etcd_, 9002);  // fixed
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002, 9004}, milliseconds(1000)));
  // The same host:port under a second key is one endpoint.
  etcd_.Put(ServicePrefix(kService) + "zz-alias", EndpointValue({"127.0.0.1", 9001, 1}));
  Register(etcd_, 9005);
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002, 9004, 9005}, milliseconds(1000)));
  EXPECT_EQ(watcher.stats().malformed_values, 2);
}

TEST_F(EtcdWatcherTest, WhileEtcdIsDownTheLastSetStaysAndOnceBackChangesAreSeen) {
  Register(etcd_, 9001);
  Register(etcd_, 9002);
  EtcdEndpointWatcher watcher(WatchOptions(etcd_.url()), recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  const std::size_t sets_before = recorder_.count();

  etcd_.Kill();
  EXPECT_TRUE(WaitFor([&] { return !watcher.stats().connected; }, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(1000));  // several failed retries
  EXPECT_EQ(recorder_.count(), sets_before) << "etcd down never changes the set";
  EXPECT_TRUE(recorder_.LastHasPorts({9001, 9002}));
  EXPECT_EQ(watcher.Endpoints().size(), 2u);
  EXPECT_GE(watcher.stats().watch_breaks, 2);

  etcd_.Restart();
  Register(etcd_, 9003);
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002, 9003}, milliseconds(5000)));
  EXPECT_TRUE(watcher.stats().connected);
  EXPECT_GE(watcher.stats().resyncs, 2);
}

TEST_F(EtcdWatcherTest, AnEmptyPrefixGivesAnEmptySetAndAThrowingCallbackIsSurvived) {
  std::atomic<int> calls{0};
  EtcdEndpointWatcher watcher(WatchOptions(etcd_.url()), [&](const std::vector<Endpoint>&) {
    ++calls;
    throw std::runtime_error("the user's callback failed");
  });
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  EXPECT_TRUE(watcher.Endpoints().empty());
  Register(etcd_, 9001);
  // Endpoints() takes the new set once the callback has returned (here: thrown), a moment after
  // `calls` counts it: wait for both.
  EXPECT_TRUE(WaitFor([&] { return calls.load() == 2 && watcher.Endpoints().size() == 1; },
                      milliseconds(1000)));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(watcher.Endpoints().size(), 1u);
}

// The relay's open connections stop passing bytes, the watch's among them, while both stay open:
// the watch delivers nothing and sees no error. The check finds the change it missed.
TEST_F(EtcdWatcherTest, AWatchThatGoesSilentIsFoundByTheCheckAndReplaced) {
  testing_support::Relay relay(etcd_.client_port());
  Register(etcd_, 9001);
  EtcdEndpointWatcher watcher(WatchOptions(RelayUrl(relay), milliseconds(300)),
                              recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  Register(etcd_, 9002);
  ASSERT_TRUE(recorder_.WaitForPorts({9001, 9002}, milliseconds(1000)))
      << "the watch works through the relay";

  relay.StallOpenConnections();
  const int connections_before = relay.connections();
  const auto put_at = Clock::now();
  Register(etcd_, 9003);
  // check_interval quiet, a read, request_timeout (500 ms) for the watch to deliver, a resync.
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002, 9003}, milliseconds(3000)))
      << "the change made while the watch was silent arrives";
  const auto seen_after = Clock::now() - put_at;
  const EtcdEndpointWatcher::Stats stats = watcher.stats();
  EXPECT_GE(stats.watch_checks, 1);
  EXPECT_GE(stats.stale_watches, 1);
  EXPECT_GE(stats.resyncs, 2);
  EXPECT_TRUE(stats.connected);
  EXPECT_GT(relay.connections(), connections_before) << "a new watch replaced the silent one";

  // The new watch is a live one: the next change comes as an event, without another check.
  const std::int64_t checks_before = watcher.stats().watch_checks;
  Register(etcd_, 9004);
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002, 9003, 9004}, milliseconds(250)));
  EXPECT_EQ(watcher.stats().watch_checks, checks_before);
  std::cout << "[ FIGURE   ] a put behind a silent watch reached on_change after "
            << std::chrono::duration_cast<milliseconds>(seen_after).count()
            << " ms (check_interval 300 ms, request_timeout 500 ms)" << std::endl;
}

// The control for the test above: without the check, the same silence keeps the old set.
TEST_F(EtcdWatcherTest, WithoutTheCheckASilentWatchKeepsTheOldSet) {
  testing_support::Relay relay(etcd_.client_port());
  Register(etcd_, 9001);
  EtcdEndpointWatcher watcher(WatchOptions(RelayUrl(relay), milliseconds(0)), recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  relay.StallOpenConnections();
  Register(etcd_, 9002);
  EXPECT_FALSE(recorder_.WaitForPorts({9001, 9002}, milliseconds(1500)));
  EXPECT_TRUE(recorder_.LastHasPorts({9001}));
  EXPECT_EQ(watcher.stats().watch_checks, 0);
  EXPECT_TRUE(watcher.stats().connected) << "nothing tells the watcher otherwise";
}

// A quiet but healthy watch is checked without being replaced, and still delivers events after
// the checks (a wait that ran out leaves the stream readable). Checking every millisecond, the
// puts land during checks' reads: the watch delivers them within the check's grace, so none
// counts as stale.
TEST_F(EtcdWatcherTest, QuietHealthyWatchIsCheckedWithoutResyncs) {
  Register(etcd_, 9001);
  EtcdEndpointWatcher watcher(WatchOptions(etcd_.url(), milliseconds(1)), recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  EXPECT_TRUE(WaitFor([&] { return watcher.stats().watch_checks >= 20; }, milliseconds(5000)));
  const EtcdEndpointWatcher::Stats quiet = watcher.stats();
  EXPECT_EQ(quiet.stale_watches, 0);
  EXPECT_EQ(quiet.resyncs, 1);
  EXPECT_EQ(recorder_.count(), 1u);
  for (int port = 9002; port <= 9004; ++port) {
    Register(etcd_, port);
    std::vector<int> ports;
    for (int p = 9001; p <= port; ++p) ports.push_back(p);
    EXPECT_TRUE(recorder_.WaitForPorts(ports, milliseconds(1000))) << "port " << port;
  }
  const EtcdEndpointWatcher::Stats stats = watcher.stats();
  EXPECT_EQ(stats.stale_watches, 0);
  EXPECT_EQ(stats.resyncs, 1);
  EXPECT_EQ(stats.watch_breaks, 0);
  std::cout << "[ FIGURE   ] check_interval 1 ms: " << stats.watch_checks << " checks, "
            << stats.stale_watches << " of them stale, over the test" << std::endl;
}

// The longest check_interval allowed (1 h) is taken as it is: the watch follows changes, and no
// check comes within the test.
TEST_F(EtcdWatcherTest, AnHourLongCheckIntervalIsAcceptedAndFollowsChanges) {
  Register(etcd_, 9001);
  EtcdEndpointWatcher watcher(WatchOptions(etcd_.url(), std::chrono::hours(1)),
                              recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  Register(etcd_, 9002);
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002}, milliseconds(1000)));
  EXPECT_EQ(watcher.stats().watch_checks, 0);
  EXPECT_EQ(watcher.stats().resyncs, 1);
}

// etcd stalls altogether (every connection through the relay, new ones too): the check's read
// runs out of time, which breaks the watch; the last set stays, and once etcd answers again the
// change made meanwhile arrives.
TEST_F(EtcdWatcherTest, AStalledEtcdBreaksTheWatchAtTheCheckAndTheLastSetStays) {
  testing_support::Relay relay(etcd_.client_port());
  Register(etcd_, 9001);
  EtcdEndpointWatcher watcher(WatchOptions(RelayUrl(relay), milliseconds(200)),
                              recorder_.Callback());
  ASSERT_TRUE(watcher.WaitForFirstSet(milliseconds(5000)));
  const std::size_t sets_before = recorder_.count();

  relay.StallAll();
  Register(etcd_, 9002);
  EXPECT_TRUE(WaitFor([&] { return !watcher.stats().connected; }, milliseconds(3000)));
  EXPECT_GE(watcher.stats().watch_breaks, 1);
  EXPECT_EQ(recorder_.count(), sets_before) << "a stalled etcd never changes the set";
  EXPECT_EQ(watcher.Endpoints().size(), 1u);

  relay.Resume();
  EXPECT_TRUE(recorder_.WaitForPorts({9001, 9002}, milliseconds(5000)));
  EXPECT_TRUE(WaitFor([&] { return watcher.stats().connected; }, milliseconds(5000)));
}

TEST(EtcdWatcherEdgeTest, AStalledOrAbsentEtcdNeverHangsConstructionOrDestruction) {
  testing_support::SilentListener silent;
  for (const std::string& url : {silent.url(), std::string("http://127.0.0.1:1")}) {
    Recorder recorder;
    const auto start = Clock::now();
    {
      EtcdEndpointWatcher watcher(WatchOptions(url), recorder.Callback());
      EXPECT_FALSE(watcher.WaitForFirstSet(milliseconds(700)));
      EXPECT_FALSE(watcher.stats().connected);
    }
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(5)) << url;
    EXPECT_EQ(recorder.count(), 0u) << url;
  }
}

TEST(EtcdWatcherEdgeTest, RefusesBadOptionsNamingThem) {
  const auto refused = [](EtcdEndpointWatcher::Options options, EtcdEndpointWatcher::OnChange f,
                          const std::string& part) {
    try {
      EtcdEndpointWatcher watcher(std::move(options), std::move(f));
      ADD_FAILURE() << "accepted; expected " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  const auto ignore = [](const std::vector<Endpoint>&) {};
  EtcdEndpointWatcher::Options options = WatchOptions("http://127.0.0.1:2379");
  refused(options, nullptr, "on_change");
  options.service = "";
  refused(options, ignore, "service name");
  options = WatchOptions("ftp://x:1");
  refused(options, ignore, "'ftp://x:1'");
  options = WatchOptions("http://127.0.0.1:2379");
  options.min_backoff = milliseconds(0);
  refused(options, ignore, "min_backoff");
  options.min_backoff = milliseconds(500);
  options.max_backoff = milliseconds(100);
  refused(options, ignore, "min_backoff");
  options = WatchOptions("http://127.0.0.1:2379");
  options.check_interval = milliseconds(-1);
  refused(options, ignore, "check_interval");
  options.check_interval = std::chrono::hours(1) + milliseconds(1);
  refused(options, ignore, "check_interval");
}

}  // namespace
}  // namespace thriftpool::discovery
