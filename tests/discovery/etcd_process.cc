#include "etcd_process.h"

#include <openssl/evp.h>
#include <signal.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "http_test_client.h"
#include "support/loopback_port.h"

namespace thriftpool::testing_support {
namespace {

using std::chrono::milliseconds;

std::string Loopback(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

std::string Base64(const std::string& bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3), '\0');
  text.resize(static_cast<std::size_t>(EVP_EncodeBlock(
      reinterpret_cast<unsigned char*>(text.data()),
      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()))));
  return text;
}

std::string FromBase64(const std::string& text) {
  std::string bytes(text.size() / 4 * 3, '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (decoded < 0) throw std::runtime_error("not base64: " + text);
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  bytes.resize(static_cast<std::size_t>(decoded) - padding);
  return bytes;
}

EtcdProcess::EtcdProcess()
    : client_port_(FreeLoopbackPort()), peer_port_(FreeLoopbackPort()), dir_("thriftpool-etcd") {}

EtcdProcess::~EtcdProcess() = default;  // ChildProcess kills and reaps; TempDir removes

std::string EtcdProcess::url() const { return Loopback(client_port_); }

void EtcdProcess::Start() {
  if (dir_.path().empty()) throw std::runtime_error("EtcdProcess: no scratch directory");
  const std::string peer = Loopback(peer_port_);
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{
          "etcd", "--name=test", "--data-dir=" + (dir_.path() / "data").string(),
          "--listen-client-urls=" + url(), "--advertise-client-urls=" + url(),
          "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
          "--initial-cluster=test=" + peer, "--log-level=error"},
      ChildProcess::StderrMode::kCapture);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto health = metrics_test::HttpGet(client_port_, "/health", milliseconds(500));
    if (health && health->status == 200 && health->body.find("\"true\"") != std::string::npos) {
      return;
    }
    if (process_->Wait(milliseconds(50))) break;  // it exited
  }
  process_->Signal(SIGKILL);
  process_->Wait(milliseconds(5000));
  throw std::runtime_error("etcd did not become healthy on " + url() + "; its stderr:\n" +
                           process_->err());
}

void EtcdProcess::Kill() {
  process_->Signal(SIGKILL);
  process_->Wait(milliseconds(5000));
}

nlohmann::json EtcdProcess::Post(const std::string& path, const nlohmann::json& body) const {
  metrics_test::HttpConnection connection(client_port_);
  const std::string payload = body.dump();
  const bool sent =
      connection.ok() && connection.Send("POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" +
                                         "Content-Type: application/json\r\nContent-Length: " +
                                         std::to_string(payload.size()) + "\r\n\r\n" + payload);
  const auto response = sent ? connection.ReadResponse(milliseconds(5000)) : std::nullopt;
  if (!response) throw std::runtime_error("etcd at " + url() + ": no answer to " + path);
  nlohmann::json parsed = nlohmann::json::parse(response->body, nullptr, false);
  if (parsed.is_discarded()) {
    throw std::runtime_error("etcd at " + url() + ": " + path + " answered " + response->body);
  }
  return parsed;
}

void EtcdProcess::Put(const std::string& key, const std::string& value, std::int64_t lease) const {
  Post("/v3/kv/put",
       {{"key", Base64(key)}, {"value", Base64(value)}, {"lease", std::to_string(lease)}});
}

void EtcdProcess::Delete(const std::string& key) const {
  Post("/v3/kv/deleterange", {{"key", Base64(key)}});
}

EtcdProcess::Entry EtcdProcess::Get(const std::string& key) const {
  const nlohmann::json answer = Post("/v3/kv/range", {{"key", Base64(key)}});
  Entry entry;
  if (!answer.contains("kvs") || answer["kvs"].empty()) return entry;
  const nlohmann::json& kv = answer["kvs"][0];
  entry.found = true;
  entry.value = FromBase64(kv.value("value", ""));
  entry.lease = std::stoll(kv.value("lease", "0"));
  return entry;
}

std::int64_t EtcdProcess::Revision() const {
  return std::stoll(
      Post("/v3/kv/range", {{"key", Base64("/")}})["header"]["revision"].get<std::string>());
}

}  // namespace thriftpool::testing_support
