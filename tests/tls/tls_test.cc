// TLS end to end on loopback: the good path (every transport and protocol, mutual TLS, a
// configured server name sent as SNI), each failure as a clear TTransportException within the
// connect timeout and without a retry storm, the take-out probe over TLS, the fault behaviours
// (reset, restart) with "nothing was sent" retries, and the options' validation.
//
// SIGPIPE keeps its default action here: a write to a dead TLS connection must not kill the
// process.
#include <gtest/gtest.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/thrift_connection.h>
#include <thriftpool/tls_socket.h>
#include <thriftpool/user_server.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "UserService.h"
#include "faults/fake_peers.h"
#include "faults/fault_support.h"
#include "tls_test_support.h"

namespace thriftpool::tls_test {
namespace {

using apache::thrift::transport::TTransportException;
using example::User;
using example::UserServer;
using example::UserServiceClient;
using faults::Loose;
using faults::Millis;
using faults::Stopwatch;
using faults::WaitFor;
using std::chrono::milliseconds;
using UserPool = ThriftClientPool<UserServiceClient>;

// The take-out probe runs on every take-out (no skip window), so that tests see what it finds.
PoolOptions SmallPool() {
  PoolOptions pool;
  pool.max_cap = 2;
  pool.max_idle = 2;
  pool.ping_skip_window = milliseconds(0);
  return pool;
}

User GetUser(UserPool& pool, std::int64_t id, CallOptions call = kIdempotent) {
  User user;
  pool.Call([&](UserServiceClient& c) { c.getUser(user, id); }, call);
  return user;
}

// Slack on top of the connect timeout: the machine may be busy. A hang would take the receive
// timeout (10 s in TlsClient), far beyond.
constexpr Millis kSlack(3000);

// Opens one connection, which must fail with `type` and a message containing `reason`, within
// the connect timeout (plus loose slack).
void ExpectOpenFails(const ClientOptions& options,
                     TTransportException::TTransportExceptionType type, const std::string& reason) {
  const Stopwatch clock;
  try {
    ThriftConnection connection(options);
    ADD_FAILURE() << "the connection opened; expected: " << reason;
  } catch (const TTransportException& e) {
    EXPECT_EQ(e.getType(), type) << e.what();
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
  EXPECT_LT(clock.Elapsed(), Loose(Millis(options.connect_timeout) + kSlack));
}

// A pool Call (idempotent, so that every rule allows a retry) against a peer that refuses us
// during the handshake: one connect, no retry, a TTransportException.
void ExpectPoolCallFailsOnce(const ClientOptions& options, const std::string& reason) {
  UserPool pool(options, SmallPool());
  const Stopwatch clock;
  EXPECT_THROW(
      {
        try {
          GetUser(pool, 1);
        } catch (const TTransportException& e) {
          EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
          throw;
        }
      },
      TTransportException);
  EXPECT_LT(clock.Elapsed(), Loose(Millis(options.connect_timeout) + kSlack));
  const ClientPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.pool.created, 0u);
  EXPECT_EQ(stats.pool.create_failures, 1u);
  EXPECT_EQ(stats.retries, 0u);
}

// --- Good path ---

TEST(TlsGoodPath, EveryTransportAndProtocol) {
  for (const TransportKind transport : {TransportKind::kBuffered, TransportKind::kFramed}) {
    for (const ProtocolKind protocol : {ProtocolKind::kBinary, ProtocolKind::kCompact}) {
      SCOPED_TRACE(std::string(ToString(transport)) + "/" + ToString(protocol));
      example::UserServerOptions server_options = TlsServer();
      server_options.transport = transport;
      server_options.protocol = protocol;
      UserServer server(server_options);
      server.Start();
      ClientOptions options = TlsClient(server.port());
      options.transport = transport;
      options.protocol = protocol;
      UserPool pool(options, SmallPool());
      EXPECT_EQ(GetUser(pool, 7, CallOptions{}).name, "user-7");
      {
        auto lease = pool.Get();
        User user;
        lease->getUser(user, 8);
        EXPECT_EQ(user.name, "user-8");
      }
      // A request larger than one TLS record (16 KiB) goes out in several.
      const std::string name(40000, 'n');
      const std::int64_t id =
          pool.Call([&](UserServiceClient& c) { return c.createUser(name, "big@example.com"); });
      EXPECT_EQ(GetUser(pool, id).name, name);
      EXPECT_EQ(pool.Stats().pool.created, 1u);
      EXPECT_EQ(server.calls(), 4u);
    }
  }
}

TEST(TlsGoodPath, MutualTls) {
  UserServer server(TlsServer("server", "ca.pem"));
  server.Start();
  ClientOptions options = TlsClient(server.port());
  options.tls.cert_file = Cert("client.pem");
  options.tls.key_file = Cert("client.key");
  UserPool pool(options, SmallPool());
  EXPECT_EQ(GetUser(pool, 3).name, "user-3");
}

TEST(TlsGoodPath, ServerNameIsVerifiedAndSentAsSni) {
  TlsPeer peer("server_name", TlsPeer::After::kNothing);
  ClientOptions options = TlsClient(peer.port());
  options.tls.server_name = "users.test";
  {
    ThriftConnection connection(options);
    EXPECT_TRUE(WaitFor([&] { return peer.handshakes() == 1; }, milliseconds(2000)));
    EXPECT_EQ(peer.last_sni(), "users.test");
  }
  // The same certificate reached by its address alone does not name it.
  options.tls.server_name.clear();
  ExpectOpenFails(options, TTransportException::NOT_OPEN, "IP address mismatch");
}

TEST(TlsGoodPath, NoSniForAnAddress) {
  TlsPeer peer("server", TlsPeer::After::kNothing);
  ThriftConnection connection(TlsClient(peer.port()));
  ASSERT_TRUE(WaitFor([&] { return peer.handshakes() == 1; }, milliseconds(2000)));
  EXPECT_EQ(peer.last_sni(), "");
}

TEST(TlsGoodPath, VerificationOffAcceptsAnyCertificate) {
  TlsPeer peer("foreign", TlsPeer::After::kNothing);
  ClientOptions options = TlsClient(peer.port());
  options.tls.ca_file.clear();
  options.tls.verify_peer = false;
  ThriftConnection connection(options);
  EXPECT_TRUE(connection.Probe());
}

TEST(TlsGoodPath, OneContextPerSettingNotPerConnection) {
  UserServer server(TlsServer());
  server.Start();
  // A CA file of its own: a setting no other test used, so its context is built here.
  const std::string ca = CertDir() + "/ca-copy-" + std::to_string(getpid()) + ".pem";
  std::filesystem::copy_file(Cert("ca.pem"), ca, std::filesystem::copy_options::overwrite_existing);
  ClientOptions options = TlsClient(server.port());
  options.tls.ca_file = ca;
  const std::uint64_t before = internal::TlsContext::built();
  PoolOptions pool_options = SmallPool();
  pool_options.max_cap = pool_options.max_idle = pool_options.initial_cap = 4;
  {
    UserPool pool(options, pool_options);
    for (int i = 0; i < 3; ++i) ThriftConnection per_call(options);
    EXPECT_EQ(GetUser(pool, 1).id, 1);
    EXPECT_EQ(pool.Stats().pool.created, 4u);
  }
  EXPECT_EQ(internal::TlsContext::built() - before, 1u);
  // A file changed on disk is read again for new connections.
  std::filesystem::last_write_time(ca,
                                   std::filesystem::last_write_time(ca) + std::chrono::seconds(2));
  ThriftConnection after_change(options);
  EXPECT_EQ(internal::TlsContext::built() - before, 2u);
}

// --- Each failure: a clear TTransportException within the connect timeout, no retry storm ---

TEST(TlsFailure, UnknownCa) {
  UserServer server(TlsServer("foreign"));
  server.Start();
  const ClientOptions options = TlsClient(server.port());
  ExpectOpenFails(options, TTransportException::NOT_OPEN, "unable to get local issuer certificate");
  ExpectPoolCallFailsOnce(options, "certificate was rejected");
  EXPECT_EQ(server.calls(), 0u);
}

TEST(TlsFailure, Expired) {
  UserServer server(TlsServer("expired"));
  server.Start();
  const ClientOptions options = TlsClient(server.port());
  ExpectOpenFails(options, TTransportException::NOT_OPEN, "certificate has expired");
  ExpectPoolCallFailsOnce(options, "certificate has expired");
}

TEST(TlsFailure, WrongNameWithoutFallingBackToTheCommonName) {
  // Issued for DNS:other.example, with CN=127.0.0.1: Thrift's DefaultClientAccessManager would
  // accept it through the CN.
  UserServer server(TlsServer("wrong_name"));
  server.Start();
  const ClientOptions options = TlsClient(server.port());
  ExpectOpenFails(options, TTransportException::NOT_OPEN, "IP address mismatch");
  ExpectPoolCallFailsOnce(options, "IP address mismatch");
}

TEST(TlsFailure, ConfiguredNameIsCheckedNotThePeerAddress) {
  // The certificate names 127.0.0.1, the address we reach; but we asked for other.example
  // (Thrift's access manager compares IP entries with the peer's address and would accept).
  UserServer server(TlsServer());
  server.Start();
  ClientOptions options = TlsClient(server.port());
  options.tls.server_name = "other.example";
  ExpectOpenFails(options, TTransportException::NOT_OPEN, "hostname mismatch");
}

TEST(TlsFailure, TlsClientToPlaintextServer) {
  example::UserServerOptions plain;
  plain.users = 10;
  UserServer server(plain);
  server.Start();
  ClientOptions options = TlsClient(server.port());
  // Thrift's server reads the ClientHello as the length of a method name and may wait for
  // 369 MB that never come: then the handshake times out, or it drops the connection at once.
  try {
    ThriftConnection connection(options);
    ADD_FAILURE() << "the connection opened";
  } catch (const TTransportException& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("is the server speaking TLS?") != std::string::npos ||
                (e.getType() == TTransportException::TIMED_OUT &&
                 what.find("TLS handshake") != std::string::npos))
        << what;
  }
  ExpectPoolCallFailsOnce(options, "TLS handshake");
  EXPECT_EQ(server.calls(), 0u);
}

TEST(TlsFailure, PlaintextClientToTlsServer) {
  UserServer server(TlsServer());
  server.Start();
  ClientOptions options = TlsClient(server.port());
  options.tls = TlsOptions();
  UserPool pool(options, SmallPool());
  const Stopwatch clock;
  // The TCP connect succeeds; the server's handshake takes the request for a bad record and
  // drops the connection, which the call's read sees at once.
  EXPECT_THROW(GetUser(pool, 1), TTransportException);
  EXPECT_LT(clock.Elapsed(), Loose(Millis(options.connect_timeout) + kSlack));
  const ClientPoolStats stats = pool.Stats();
  // Idempotent: retried, but only max_retries times.
  EXPECT_EQ(stats.retries, static_cast<std::uint64_t>(options.retry.max_retries));
  EXPECT_EQ(stats.pool.created, 1u + options.retry.max_retries);
  EXPECT_EQ(server.calls(), 0u);
}

TEST(TlsFailure, SilentPeerHoldsTheHandshakeOnlyUntilTheConnectTimeout) {
  SilentListener silent;
  ClientOptions options = TlsClient(silent.port());
  options.connect_timeout = milliseconds(300);
  // Thrift's own handshake would wait as long as the receive timeout.
  options.recv_timeout = milliseconds(30000);
  const Stopwatch clock;
  ExpectOpenFails(options, TTransportException::TIMED_OUT, "timed out");
  EXPECT_GE(clock.Elapsed(), Millis(290));
  UserPool pool(options, SmallPool());
  const Stopwatch pool_clock;
  EXPECT_THROW(GetUser(pool, 1), TTransportException);
  EXPECT_LT(pool_clock.Elapsed(), Loose(Millis(options.connect_timeout) + kSlack));
  EXPECT_EQ(pool.Stats().pool.create_failures, 1u);
  EXPECT_EQ(silent.accepted(), 2);
}

TEST(TlsFailure, FullBacklogConnectTimesOut) {
  faults::BlackHoleListener black_hole;
  ClientOptions options = TlsClient(black_hole.port());
  options.connect_timeout = milliseconds(300);
  ExpectOpenFails(options, TTransportException::TIMED_OUT, "timed out");
}

TEST(TlsFailure, MissingClientCertificateWithMutualTls) {
  UserServer server(TlsServer("server", "ca.pem"));
  server.Start();
  const ClientOptions options = TlsClient(server.port());
  UserPool pool(options, SmallPool());
  const Stopwatch clock;
  // TLS 1.3: the server checks the client's certificate after the client's handshake is done,
  // so the refusal (an alert) reaches the first call's read, within milliseconds.
  try {
    GetUser(pool, 1);
    ADD_FAILURE() << "the call succeeded without a client certificate";
  } catch (const TTransportException& e) {
    EXPECT_NE(std::string(e.what()).find("certificate required"), std::string::npos) << e.what();
  }
  EXPECT_LT(clock.Elapsed(), Loose(Millis(options.connect_timeout) + kSlack));
  EXPECT_LE(pool.Stats().pool.created + pool.Stats().pool.create_failures,
            1u + options.retry.max_retries);
  EXPECT_EQ(server.calls(), 0u);
}

TEST(TlsFailure, ClientCertificateFromAnotherCa) {
  UserServer server(TlsServer("server", "ca.pem"));
  server.Start();
  ClientOptions options = TlsClient(server.port());
  options.tls.cert_file = Cert("foreign_client.pem");
  options.tls.key_file = Cert("foreign_client.key");
  UserPool pool(options, SmallPool());
  const Stopwatch clock;
  try {
    GetUser(pool, 1);
    ADD_FAILURE() << "the call succeeded with a certificate from an unknown CA";
  } catch (const TTransportException& e) {
    EXPECT_NE(std::string(e.what()).find("unknown ca"), std::string::npos) << e.what();
  }
  EXPECT_LT(clock.Elapsed(), Loose(Millis(options.connect_timeout) + kSlack));
  EXPECT_LE(pool.Stats().pool.created + pool.Stats().pool.create_failures,
            1u + options.retry.max_retries);
  EXPECT_EQ(server.calls(), 0u);
}

// --- The take-out probe over TLS ---

TEST(TlsProbe, IdleConnectionIsCleanDespiteSessionTickets) {
  UserServer server(TlsServer());
  server.Start();
  ThriftConnection connection(TlsClient(server.port()));
  // TLS 1.3 servers send session tickets right after the handshake: readable, yet clean.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(connection.Probe());
  EXPECT_TRUE(connection.Probe());
  PoolOptions pool_options = SmallPool();
  pool_options.initial_cap = 2;
  UserPool pool(TlsClient(server.port()), pool_options);
  std::this_thread::sleep_for(milliseconds(100));
  for (int id = 1; id <= 4; ++id) EXPECT_EQ(GetUser(pool, id).id, id);
  EXPECT_EQ(pool.Stats().pool.closed_broken, 0u);
  EXPECT_EQ(pool.Stats().pool.created, 2u);
}

TEST(TlsProbe, UnsolicitedDataIsNotClean) {
  TlsPeer peer("server", TlsPeer::After::kSendData);
  ThriftConnection connection(TlsClient(peer.port()));
  ASSERT_TRUE(WaitFor([&] { return peer.handshakes() == 1; }, milliseconds(2000)));
  EXPECT_TRUE(WaitFor([&] { return !connection.Probe(); }, milliseconds(2000)));
  EXPECT_FALSE(connection.Probe());
}

TEST(TlsProbe, CloseNotifyIsNotClean) {
  TlsPeer peer("server", TlsPeer::After::kCloseNotify);
  ThriftConnection connection(TlsClient(peer.port()));
  ASSERT_TRUE(WaitFor([&] { return peer.handshakes() == 1; }, milliseconds(2000)));
  EXPECT_TRUE(WaitFor([&] { return !connection.Probe(); }, milliseconds(2000)));
}

TEST(TlsProbe, ClosedByTheServerIsNotClean) {
  UserServer server(TlsServer());
  server.Start();
  ThriftConnection connection(TlsClient(server.port()));
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(connection.Probe());
  server.Stop();
  EXPECT_TRUE(WaitFor([&] { return !connection.Probe(); }, milliseconds(2000)));
}

// --- Faults: resets and restarts, and "nothing was sent" ---

TEST(TlsFaults, ResetConnectionsAreRetriedBecauseNothingWasSent) {
  UserServer server(TlsServer());
  server.Start();
  ClientOptions options = TlsClient(server.port());
  options.take_out_probe = false;  // the failed write itself must tell
  PoolOptions pool_options = SmallPool();
  pool_options.initial_cap = 1;
  UserPool pool(options, pool_options);
  EXPECT_EQ(GetUser(pool, 1).id, 1);
  server.KillConnections();
  ASSERT_TRUE(WaitFor([&] { return server.connection_count() == 0; }, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(20));
  // Not idempotent: retried only because the write failed before any record left.
  EXPECT_EQ(GetUser(pool, 2, CallOptions{}).id, 2);
  EXPECT_EQ(pool.Stats().retries, 1u);
}

TEST(TlsFaults, ResetConnectionsAreCaughtByTheProbe) {
  UserServer server(TlsServer());
  server.Start();
  PoolOptions pool_options = SmallPool();
  pool_options.initial_cap = 2;
  UserPool pool(TlsClient(server.port()), pool_options);
  EXPECT_EQ(GetUser(pool, 1).id, 1);
  server.KillConnections();
  ASSERT_TRUE(WaitFor([&] { return server.connection_count() == 0; }, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(GetUser(pool, 2, CallOptions{}).id, 2);
  EXPECT_EQ(pool.Stats().retries, 0u);
  EXPECT_GE(pool.Stats().pool.closed_broken, 1u);
}

TEST(TlsFaults, ServerProcessRestart) {
  faults::ServerProcess::Options process_options;
  process_options.flags = {"--tls-cert=" + Cert("server.pem"), "--tls-key=" + Cert("server.key"),
                           "--users=100"};
  faults::ServerProcess server(process_options);
  ClientOptions options = TlsClient(server.port());
  options.take_out_probe = false;
  UserPool pool(options, SmallPool());
  EXPECT_EQ(GetUser(pool, 1).id, 1);
  ASSERT_TRUE(server.Terminate().has_value());
  server.Restart();
  // The old connection only got a FIN: the request's records leave, the read finds the end.
  // Not idempotent and sent: the failure reaches the caller, no retry.
  EXPECT_THROW(GetUser(pool, 2, CallOptions{}), TTransportException);
  EXPECT_EQ(pool.Stats().retries, 0u);
  EXPECT_EQ(GetUser(pool, 3, CallOptions{}).id, 3);

  // With the probe on, the restart costs nothing.
  UserPool probed(TlsClient(server.port()), SmallPool());
  EXPECT_EQ(GetUser(probed, 4).id, 4);
  ASSERT_TRUE(server.Terminate().has_value());
  server.Restart();
  // The FIN may take a moment to arrive; the probe must see it before the call is wasted.
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(GetUser(probed, 5, CallOptions{}).id, 5);
  EXPECT_EQ(probed.Stats().retries, 0u);
}

// --- Options ---

void ExpectInvalid(const ClientOptions& options, const std::string& field) {
  try {
    ValidateClientOptions(options);
    ADD_FAILURE() << "accepted; expected an error naming " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(TlsOptionsValidation, NamesTheField) {
  const ClientOptions good = TlsClient(1);
  EXPECT_NO_THROW(ValidateClientOptions(good));

  ClientOptions options = good;
  options.tls.ca_file = CertDir() + "/missing.pem";
  ExpectInvalid(options, "ClientOptions.tls.ca_file: cannot read");
  options.tls.ca_file = Cert("server.key");  // a key, not a certificate
  ExpectInvalid(options, "ClientOptions.tls.ca_file");

  options = good;
  options.tls.cert_file = Cert("client.pem");
  ExpectInvalid(options, "ClientOptions.tls.key_file");
  options.tls.cert_file.clear();
  options.tls.key_file = Cert("client.key");
  ExpectInvalid(options, "ClientOptions.tls.cert_file");
  options.tls.cert_file = Cert("client.pem");
  options.tls.key_file = Cert("server.key");
  ExpectInvalid(options, "ClientOptions.tls.key_file");
  options.tls.key_file = Cert("client.pem");
  ExpectInvalid(options, "ClientOptions.tls.key_file");

  options = good;
  options.tls.server_name = "two words";
  ExpectInvalid(options, "ClientOptions.tls.server_name");

  // TLS settings while TLS is off would mean plaintext that its author believes encrypted.
  options = good;
  options.tls.enabled = false;
  ExpectInvalid(options, "ClientOptions.tls.enabled");
}

TEST(TlsOptionsValidation, Server) {
  example::UserServerOptions options = TlsServer();
  EXPECT_NO_THROW(example::ValidateUserServerOptions(options));
  options.tls_key_file.clear();
  EXPECT_THROW(example::ValidateUserServerOptions(options), std::invalid_argument);
  options = TlsServer("server", "missing.pem");
  try {
    example::ValidateUserServerOptions(options);
    ADD_FAILURE() << "accepted a missing CA file";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("UserServerOptions.tls_ca_file"), std::string::npos);
  }
  options = example::UserServerOptions();
  options.tls_ca_file = Cert("ca.pem");
  EXPECT_THROW(example::ValidateUserServerOptions(options), std::invalid_argument);
}

}  // namespace
}  // namespace thriftpool::tls_test
