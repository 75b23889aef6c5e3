// EtcdEndpointWatcher: a service's endpoint set as etcd has it, kept current in the background,
// for ServicePool::Update.
//
//   thriftpool::discovery::EtcdEndpointWatcher::Options options;
//   options.etcd.url = "http://127.0.0.1:2379";
//   options.service = "users";
//   thriftpool::discovery::EtcdEndpointWatcher watcher(
//       options, [&](const std::vector<thriftpool::Endpoint>& set) { pool.Update(set); });
#ifndef THRIFTPOOL_ETCD_ENDPOINT_WATCHER_H_
#define THRIFTPOOL_ETCD_ENDPOINT_WATCHER_H_

#include <thriftpool/endpoint.h>
#include <thriftpool/etcd_options.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace thriftpool::discovery {

// Reads the keys under the service's prefix (see etcd_endpoint_value.h), hands the endpoint set
// to `on_change`, then watches the prefix from the revision after that read and hands over the
// new set after every change. A value that does not parse is skipped, with one glog WARNING per
// key and revision, and counted; the rest of the set applies. The same host:port under two keys
// is one endpoint (the first key's).
//
// A broken watch (etcd gone, restarted, the connection cut) is reconnected with back-off
// (min_backoff doubling to max_backoff) and resynced from a fresh read; a watch whose revision
// was compacted away resyncs at once. While etcd cannot be reached the last set stays: on_change
// is never called because etcd is down. A dead peer on a half-open connection is found by TCP
// keep-alive (about 10 s). A watch that stays open but delivers nothing (a middlebox that lost the
// flow, an etcd that stalls; keep-alive sees nothing wrong) is found by the check: once the watch
// has been quiet for check_interval, the watcher reads the prefix. If the read shows a change the
// watch did not deliver, the watch gets request_timeout to deliver something (a change made
// during the read may still be on its way); if it stays silent, the watcher resyncs from a fresh
// read and a new watch. A read that fails there breaks the watch like any failure (back-off,
// last set kept). So while etcd answers reads, a change reaches on_change about check_interval +
// request_timeout after it was made (plus the resync's two requests), whatever became of the
// watch: the check's read and its wait for the watch end together request_timeout after it began.
//
// Thread-safety: the member functions may be called from any thread. on_change runs on the
// watcher's one background thread, one call at a time, never with a lock of the watcher held; it
// may call Endpoints() and stats() but must not destroy the watcher.
class EtcdEndpointWatcher {
 public:
  struct Options {
    EtcdOptions etcd;
    std::string service;  // the prefix is ServicePrefix(service)
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
    // How long the watch may deliver nothing before the watcher reads the prefix to check it
    // (above): one range read per interval while nothing changes. 0: never check.
    std::chrono::milliseconds check_interval{10000};
  };
  struct Stats {
    std::int64_t revision = 0;          // of the last read or event applied
    std::int64_t resyncs = 0;           // reads of the whole prefix, the first one included
    std::int64_t malformed_values = 0;  // (key, revision) pairs skipped
    std::int64_t watch_breaks = 0;      // watches (or reads) that failed and were retried
    std::int64_t watch_checks = 0;      // checks made because the watch was quiet
    std::int64_t stale_watches = 0;     // checks that found the watch stale, each then resynced
    bool connected = false;     // the last read succeeded and its watch has not broken since
    std::size_t endpoints = 0;  // in the last set handed over
  };
  using OnChange = std::function<void(const std::vector<Endpoint>&)>;

  // Starts the background thread; the first set arrives asynchronously (WaitForFirstSet).
  // Throws std::invalid_argument naming a bad field (ValidateEtcdOptions, ServicePrefix, the
  // back-offs: min_backoff at least 1 ms and at most max_backoff, max_backoff at most 1 h;
  // check_interval 0 or 1 ms .. 1 h) or a null on_change. etcd being unreachable is not an error
  // here: the thread keeps trying.
  EtcdEndpointWatcher(Options options, OnChange on_change);
  // Stops the thread and joins it; returns promptly (it interrupts a request or a watch), unless
  // on_change is running, which it lets finish.
  ~EtcdEndpointWatcher();
  EtcdEndpointWatcher(const EtcdEndpointWatcher&) = delete;
  EtcdEndpointWatcher& operator=(const EtcdEndpointWatcher&) = delete;

  // Waits until the first read has been handed to on_change (true), or `timeout` passed (false).
  bool WaitForFirstSet(std::chrono::milliseconds timeout) const;
  // The last set handed to on_change (empty before the first).
  std::vector<Endpoint> Endpoints() const;
  Stats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thriftpool::discovery

#endif  // THRIFTPOOL_ETCD_ENDPOINT_WATCHER_H_
