#include <glog/logging.h>
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/etcd_endpoint_watcher.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include "etcd_client.h"
#include "stop_signal.h"

namespace thriftpool::discovery {

using internal::Clock;
using internal::EtcdClient;
using internal::EtcdWatch;
using internal::KeyValue;
using internal::Stopped;
using internal::StopSignal;
using internal::WatchResponse;

namespace {

EtcdEndpointWatcher::Options Validated(EtcdEndpointWatcher::Options options) {
  ValidateEtcdOptions(options.etcd);
  ServicePrefix(options.service);
  using std::chrono::milliseconds;
  if (options.min_backoff < milliseconds(1) || options.min_backoff > options.max_backoff ||
      options.max_backoff > std::chrono::hours(1)) {
    throw std::invalid_argument("EtcdEndpointWatcher::Options: min_backoff (" +
                                std::to_string(options.min_backoff.count()) +
                                " ms) must be at least 1 ms and at most max_backoff (" +
                                std::to_string(options.max_backoff.count()) +
                                " ms), which is at most 1 h");
  }
  if (options.check_interval < milliseconds(0) || options.check_interval > std::chrono::hours(1)) {
    throw std::invalid_argument("EtcdEndpointWatcher::Options: check_interval (" +
                                std::to_string(options.check_interval.count()) +
                                " ms) must be 0 (no checks) or 1 ms .. 1 h");
  }
  return options;
}

// The keys under the prefix as the watcher last applied them. Used by the watcher's thread only.
class KeySet {
 public:
  // Replaces everything with a fresh read; returns the (key, revision) pairs newly malformed.
  std::int64_t Reset(const std::vector<KeyValue>& kvs) {
    entries_.clear();
    revisions_.clear();
    std::int64_t malformed = 0;
    for (const KeyValue& kv : kvs) malformed += Put(kv);
    return malformed;
  }
  // 1 if the value is malformed and was not reported at this key and revision before.
  std::int64_t Put(const KeyValue& kv) {
    revisions_[kv.key] = kv.mod_revision;
    try {
      entries_[kv.key] = ParseEndpointValue(kv.value);
      return 0;
    } catch (const std::invalid_argument& e) {
      entries_.erase(kv.key);
      if (!warned_.insert({kv.key, kv.mod_revision}).second) return 0;
      LOG(WARNING) << "EtcdEndpointWatcher: skipping " << kv.key << " at revision "
                   << kv.mod_revision << ": " << e.what();
      return 1;
    }
  }
  void Delete(const std::string& key) {
    entries_.erase(key);
    revisions_.erase(key);
    warned_.erase(warned_.lower_bound({key, 0}), warned_.upper_bound({key, INT64_MAX}));
  }
  // True if a read of the prefix shows every key this set has, at the same revision, and no other.
  bool Matches(const std::vector<KeyValue>& kvs) const {
    if (kvs.size() != revisions_.size()) return false;
    return std::all_of(kvs.begin(), kvs.end(), [&](const KeyValue& kv) {
      const auto found = revisions_.find(kv.key);
      return found != revisions_.end() && found->second == kv.mod_revision;
    });
  }
  // In key order; the same host:port under a later key is left out.
  std::vector<Endpoint> Endpoints() const {
    std::vector<Endpoint> endpoints;
    for (const auto& entry : entries_) {
      const Endpoint& endpoint = entry.second;
      const bool seen = std::any_of(endpoints.begin(), endpoints.end(), [&](const Endpoint& e) {
        return e.host == endpoint.host && e.port == endpoint.port;
      });
      if (!seen) endpoints.push_back(endpoint);
    }
    return endpoints;
  }

 private:
  std::map<std::string, Endpoint> entries_;        // the keys whose value parsed
  std::map<std::string, std::int64_t> revisions_;  // every key's mod_revision, malformed too
  std::set<std::pair<std::string, std::int64_t>> warned_;  // (key, mod_revision) reported
};

}  // namespace

class EtcdEndpointWatcher::Impl {
 public:
  Impl(Options options, OnChange on_change)
      : options_(Validated(std::move(options))),
        prefix_(ServicePrefix(options_.service)),
        client_(options_.etcd),
        on_change_(std::move(on_change)) {
    if (!on_change_) throw std::invalid_argument("EtcdEndpointWatcher: on_change is null");
    thread_ = std::thread([this] { Run(); });
  }
  ~Impl() {
    stop_.Trigger();
    thread_.join();
  }

  bool WaitForFirstSet(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return first_set_cv_.wait_for(lock, timeout, [this] { return state_.first_set_delivered; });
  }
  std::vector<Endpoint> Endpoints() const {
    std::lock_guard<std::mutex> lock(mu_);
    return state_.endpoints;
  }
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return state_.stats;
  }

 private:
  void Run() {
    std::chrono::milliseconds backoff = options_.min_backoff;
    bool was_connected = true;  // so that the first failure is logged
    try {
      for (;;) {
        try {
          std::optional<EtcdWatch> watch = Resync();
          backoff = options_.min_backoff;
          if (!was_connected) LOG(INFO) << "EtcdEndpointWatcher: " << prefix_ << ": etcd is back";
          was_connected = true;
          if (Follow(*watch)) continue;  // compacted: resync at once
        } catch (const EtcdError& e) {
          if (was_connected) {
            LOG(WARNING) << "EtcdEndpointWatcher: " << prefix_ << ": " << e.what()
                         << "; keeping the last " << Endpoints().size()
                         << " endpoints, retrying with back-off";
          }
          was_connected = false;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          state_.stats.connected = false;
          ++state_.stats.watch_breaks;
        }
        stop_.Sleep(backoff);
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    } catch (const Stopped&) {
    }
  }

  // Reads the whole prefix, hands the set over, and opens a watch from the next revision.
  std::optional<EtcdWatch> Resync() {
    const internal::RangeResponse range = client_.Range(prefix_, &stop_);
    const std::int64_t malformed = keys_.Reset(range.kvs);
    std::optional<EtcdWatch> watch;
    watch.emplace(client_.Watch(prefix_, range.revision + 1, &stop_));
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++state_.stats.resyncs;
      state_.stats.malformed_values += malformed;
      state_.stats.connected = true;
    }
    Deliver(range.revision);
    return watch;
  }

  // Applies the watch's events until it breaks (throws), or is canceled or found stale (returns
  // true: resync at once).
  bool Follow(EtcdWatch& watch) {
    for (;;) {
      std::optional<WatchResponse> response;
      try {
        response = watch.Next(options_.check_interval.count() == 0
                                  ? Clock::time_point::max()
                                  : Clock::now() + options_.check_interval);
      } catch (const internal::DeadlinePassed&) {
        if (IsStale(watch)) return true;
        continue;
      }
      if (!Apply(response)) return true;
    }
  }

  // Applies one response of the watch; false if it canceled the watch. Throws if the stream
  // ended.
  bool Apply(const std::optional<WatchResponse>& response) {
    if (!response) throw EtcdError("etcd at " + client_.url() + ": the watch stream ended");
    if (response->canceled) {
      LOG(WARNING) << "EtcdEndpointWatcher: " << prefix_ << ": watch canceled"
                   << (response->compact_revision != 0
                           ? " (revision compacted to " +
                                 std::to_string(response->compact_revision) + ")"
                           : "")
                   << (response->cancel_reason.empty() ? "" : ": " + response->cancel_reason)
                   << "; resyncing";
      return false;
    }
    if (response->events.empty()) return true;
    std::int64_t malformed = 0;
    for (const internal::WatchEvent& event : response->events) {
      if (event.deleted) {
        keys_.Delete(event.kv.key);
      } else {
        malformed += keys_.Put(event.kv);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_.stats.malformed_values += malformed;
    }
    Deliver(response->revision);
    return true;
  }

  // After the watch was quiet for check_interval: true if it is stale (or was canceled meanwhile).
  // Reads the prefix; if the read shows a change the watch has not delivered, the watch has until
  // request_timeout after the check began to show it is alive (a change made during the read may
  // still be on its way): a response then is applied, and the watch kept. A failed read throws,
  // breaking the watch.
  bool IsStale(EtcdWatch& watch) {
    const Clock::time_point give_up = Clock::now() + options_.etcd.request_timeout;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++state_.stats.watch_checks;
    }
    const internal::RangeResponse range = client_.Range(prefix_, &stop_);
    if (keys_.Matches(range.kvs)) return false;
    std::optional<WatchResponse> response;
    try {
      response = watch.Next(give_up);
    } catch (const internal::DeadlinePassed&) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++state_.stats.stale_watches;
      }
      LOG(WARNING) << "EtcdEndpointWatcher: " << prefix_ << ": the prefix changed (revision "
                   << range.revision << ") and the watch, quiet for "
                   << options_.check_interval.count() << " ms, did not deliver it within "
                   << options_.etcd.request_timeout.count() << " ms; resyncing";
      return true;
    }
    return !Apply(response);
  }

  // Hands the set to on_change if it differs from the last one (always the first time).
  void Deliver(std::int64_t revision) {
    std::vector<Endpoint> endpoints = keys_.Endpoints();
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_.stats.revision = revision;
      if (state_.first_set_delivered && endpoints == state_.endpoints) return;
    }
    try {
      on_change_(endpoints);
    } catch (const std::exception& e) {
      LOG(ERROR) << "EtcdEndpointWatcher: " << prefix_ << ": on_change threw: " << e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_.stats.endpoints = endpoints.size();
      state_.endpoints = std::move(endpoints);
      state_.first_set_delivered = true;
    }
    first_set_cv_.notify_all();
  }

  const Options options_;
  const std::string prefix_;
  const EtcdClient client_;
  const OnChange on_change_;
  StopSignal stop_;
  KeySet keys_;  // the watcher's thread only

  mutable std::mutex mu_;
  mutable std::condition_variable first_set_cv_;
  struct State {
    std::vector<Endpoint> endpoints;  // the last set handed over
    bool first_set_delivered = false;
    Stats stats;
  } state_;  // guarded by mu_

  std::thread thread_;  // last: starts once everything above exists
};

EtcdEndpointWatcher::EtcdEndpointWatcher(Options options, OnChange on_change)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(on_change))) {}

EtcdEndpointWatcher::~EtcdEndpointWatcher() = default;

bool EtcdEndpointWatcher::WaitForFirstSet(std::chrono::milliseconds timeout) const {
  return impl_->WaitForFirstSet(timeout);
}

std::vector<Endpoint> EtcdEndpointWatcher::Endpoints() const { return impl_->Endpoints(); }

EtcdEndpointWatcher::Stats EtcdEndpointWatcher::stats() const { return impl_->stats(); }

}  // namespace thriftpool::discovery
