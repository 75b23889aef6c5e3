#include <glog/logging.h>
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/etcd_registration.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <utility>

#include "etcd_client.h"
#include "stop_signal.h"

namespace thriftpool::discovery {

using internal::EtcdClient;
using internal::Stopped;
using internal::StopSignal;

namespace {

EtcdRegistration::Options Validated(EtcdRegistration::Options options) {
  ValidateEtcdOptions(options.etcd);
  EndpointKey(options.service, options.endpoint);
  if (options.ttl < std::chrono::seconds(1) || options.ttl > std::chrono::hours(1)) {
    throw std::invalid_argument("EtcdRegistration::Options.ttl must be within 1 s .. 1 h (got " +
                                std::to_string(options.ttl.count()) + " s)");
  }
  return options;
}

}  // namespace

class EtcdRegistration::Impl {
 public:
  explicit Impl(Options options)
      : options_(Validated(std::move(options))),
        key_(EndpointKey(options_.service, options_.endpoint)),
        value_(EndpointValue(options_.endpoint)),
        client_(options_.etcd) {
    Register(nullptr);
    LOG(INFO) << "EtcdRegistration: registered " << key_ << " at " << client_.url()
              << " under lease " << lease_ << " (TTL " << options_.ttl.count() << " s)";
    thread_ = std::thread([this] { KeepAlive(); });
  }

  ~Impl() {
    stop_.Trigger();
    thread_.join();
    try {
      client_.Delete(key_, nullptr);
      client_.LeaseRevoke(lease_, nullptr);
      LOG(INFO) << "EtcdRegistration: deleted " << key_;
    } catch (const EtcdError& e) {
      LOG(WARNING) << "EtcdRegistration: leaving " << key_
                   << " to its lease's expiry: " << e.what();
    }
  }

  bool registered() const { return registered_.load(); }
  const std::string& key() const { return key_; }

 private:
  // Grants a lease and puts the key under it.
  void Register(const StopSignal* stop) {
    const std::int64_t lease = client_.LeaseGrant(options_.ttl.count(), stop);
    client_.Put(key_, value_, lease, stop);
    lease_ = lease;
    registered_.store(true);
  }

  // Renews the lease every ttl/3; re-registers when etcd lost it. Retries a failure after a
  // shorter pause, so that the key is back soon after etcd is.
  void KeepAlive() {
    const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(options_.ttl) / 3;
    const auto retry = std::min(period, std::chrono::milliseconds(500));
    bool healthy = true;
    try {
      for (std::chrono::milliseconds pause = period;;) {
        stop_.Sleep(pause);
        try {
          if (client_.LeaseKeepAlive(lease_, &stop_) == 0) {
            LOG(WARNING) << "EtcdRegistration: etcd no longer has lease " << lease_ << " of "
                         << key_ << "; registering again";
            registered_.store(false);
            Register(&stop_);
          }
          if (!healthy) LOG(INFO) << "EtcdRegistration: " << key_ << " kept alive again";
          healthy = true;
          registered_.store(true);
          pause = period;
        } catch (const EtcdError& e) {
          if (healthy) {
            LOG(WARNING) << "EtcdRegistration: cannot keep " << key_ << " alive: " << e.what()
                         << "; retrying every " << retry.count() << " ms";
          }
          healthy = false;
          registered_.store(false);
          pause = retry;
        }
      }
    } catch (const Stopped&) {
    }
  }

  const Options options_;
  const std::string key_;
  const std::string value_;
  const EtcdClient client_;
  StopSignal stop_;
  std::int64_t lease_ = 0;  // the constructor's, then the keep-alive thread's; read after join
  std::atomic<bool> registered_{false};
  std::thread thread_;
};

EtcdRegistration::EtcdRegistration(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

EtcdRegistration::~EtcdRegistration() = default;

bool EtcdRegistration::registered() const { return impl_->registered(); }

const std::string& EtcdRegistration::key() const { return impl_->key(); }

}  // namespace thriftpool::discovery
