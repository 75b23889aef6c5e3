// EtcdProcess: a real etcd (Debian's etcd-server) for one test, on 127.0.0.1 with free client
// and peer ports and a scratch data directory, always killed and removed by its destructor; and
// a plain HTTP client for its v3 JSON gateway, so that tests write and read etcd without going
// through the code under test.
#ifndef THRIFTPOOL_TESTS_DISCOVERY_ETCD_PROCESS_H_
#define THRIFTPOOL_TESTS_DISCOVERY_ETCD_PROCESS_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace thriftpool::testing_support {

// Not thread-safe: one test thread uses it.
class EtcdProcess {
 public:
  // Picks the ports and the data directory; does not start etcd.
  EtcdProcess();
  // Kills etcd if it runs; removes the data directory.
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd and waits (15 s at most) until /health answers; throws std::runtime_error with
  // etcd's output if it does not.
  void Start();
  // SIGKILL: etcd dies without a word; its data stays for Restart.
  void Kill();
  // Start again on the same ports and data directory (after Kill).
  void Restart() { Start(); }
  std::string url() const;
  int client_port() const { return client_port_; }

  // POSTs `body` to the gateway's `path` (e.g. "/v3/kv/range") and returns the parsed JSON
  // answer; throws std::runtime_error if there is none or it is not JSON.
  nlohmann::json Post(const std::string& path, const nlohmann::json& body) const;
  // Plain-text conveniences over Post (keys and values base64-encoded here).
  void Put(const std::string& key, const std::string& value, std::int64_t lease = 0) const;
  void Delete(const std::string& key) const;
  // The value at `key` and its lease id (0: none); found is false when there is no such key.
  struct Entry {
    bool found = false;
    std::string value;
    std::int64_t lease = 0;
  };
  Entry Get(const std::string& key) const;
  // The revision of the store now.
  std::int64_t Revision() const;

 private:
  int client_port_;
  int peer_port_;
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
};

// Standard padded base64, for the gateway's keys and values.
std::string Base64(const std::string& bytes);
std::string FromBase64(const std::string& text);

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_DISCOVERY_ETCD_PROCESS_H_
