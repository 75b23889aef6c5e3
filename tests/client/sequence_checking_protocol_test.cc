// Sequence-id checking (ClientOptions::check_sequence_ids) against a scripted server that answers
// with a wrong id, another method's name, or a duplicate of its previous answer (the stale reply
// that a late answer becomes), over every transport and protocol. Controls with the check off show
// that the same server does make the unchecked client return wrong answers.
#include <gtest/gtest.h>
#include <thrift/TProcessor.h>
#include <thrift/async/TConcurrentClientSyncInfo.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>
#include <thriftpool/thrift_client_pool.h>
#include <thriftpool/user_server.h>

#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "UserService.h"

namespace thriftpool {
namespace {

namespace protocol = apache::thrift::protocol;
namespace server = apache::thrift::server;
namespace transport = apache::thrift::transport;
using example::User;
using example::UserServiceClient;
using protocol::TProtocolException;
using UserPool = ThriftClientPool<UserServiceClient>;

enum class Script {
  kCorrect,          // the request's name and id: what a good server does
  kWrongId,          // the request's id + 1
  kOtherMethodName,  // "createUser" for a getUser
  kAnswerTwice,      // the right answer, then the same again: the next call finds it first
  kCallType,         // the right name and id, but as a T_CALL message, not a reply
};

// Answers getUser requests as its script says, and records the ids it received.
class ScriptedProcessor : public apache::thrift::TProcessor {
 public:
  explicit ScriptedProcessor(Script script) : script_(script) {}

  bool process(std::shared_ptr<protocol::TProtocol> in, std::shared_ptr<protocol::TProtocol> out,
               void* /*connection_context*/) override {
    std::string name;
    protocol::TMessageType type;
    std::int32_t seqid = 0;
    in->readMessageBegin(name, type, seqid);
    example::UserService_getUser_args args;
    args.read(in.get());
    in->readMessageEnd();
    in->getTransport()->readEnd();
    {
      std::lock_guard lock(mu_);
      received_seqids_.push_back(seqid);
    }
    switch (script_) {
      case Script::kCorrect:
        Answer(*out, name, seqid, args.id);
        break;
      case Script::kWrongId:
        Answer(*out, name, seqid + 1, args.id);
        break;
      case Script::kOtherMethodName:
        Answer(*out, "createUser", seqid, args.id);
        break;
      case Script::kAnswerTwice:
        Answer(*out, name, seqid, args.id);
        Answer(*out, name, seqid, args.id);
        break;
      case Script::kCallType:
        Answer(*out, name, seqid, args.id, protocol::T_CALL);
        break;
    }
    return true;
  }

  std::vector<std::int32_t> received_seqids() const {
    std::lock_guard lock(mu_);
    return received_seqids_;
  }

 private:
  static void Answer(protocol::TProtocol& out, const std::string& name, std::int32_t seqid,
                     std::int64_t id, protocol::TMessageType type = protocol::T_REPLY) {
    example::UserService_getUser_result result;
    result.success.id = id;
    result.success.name = "user-" + std::to_string(id);
    result.__isset.success = true;
    out.writeMessageBegin(name, type, seqid);
    result.write(&out);
    out.writeMessageEnd();
    out.getTransport()->writeEnd();
    out.getTransport()->flush();
  }

  const Script script_;
  mutable std::mutex mu_;
  std::vector<std::int32_t> received_seqids_;  // guarded by mu_
};

// The scripted processor served on 127.0.0.1 (any free port) by a TThreadedServer.
class ScriptedServer {
 public:
  ScriptedServer(Script script, TransportKind transport_kind, ProtocolKind protocol_kind)
      : processor_(std::make_shared<ScriptedProcessor>(script)),
        socket_(std::make_shared<transport::TServerSocket>("127.0.0.1", 0)) {
    std::shared_ptr<transport::TTransportFactory> transports =
        std::make_shared<transport::TBufferedTransportFactory>();
    if (transport_kind == TransportKind::kFramed) {
      transports = std::make_shared<transport::TFramedTransportFactory>();
    }
    std::shared_ptr<protocol::TProtocolFactory> protocols =
        std::make_shared<protocol::TBinaryProtocolFactory>();
    if (protocol_kind == ProtocolKind::kCompact) {
      protocols = std::make_shared<protocol::TCompactProtocolFactory>();
    }
    server_ = std::make_unique<server::TThreadedServer>(processor_, socket_, transports, protocols);
    auto listening = std::make_shared<Listening>();
    std::future<void> listening_future = listening->promise.get_future();
    server_->setServerEventHandler(listening);
    serve_thread_ = std::thread([this] { server_->serve(); });
    if (listening_future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "the scripted server did not start listening within 10 s";
    }
    port_ = socket_->getPort();
  }
  ~ScriptedServer() {
    server_->stop();
    serve_thread_.join();
  }

  int port() const { return port_; }
  std::vector<std::int32_t> received_seqids() const { return processor_->received_seqids(); }

 private:
  struct Listening : server::TServerEventHandler {
    void preServe() override { promise.set_value(); }
    std::promise<void> promise;
  };

  std::shared_ptr<ScriptedProcessor> processor_;
  std::shared_ptr<transport::TServerSocket> socket_;
  std::unique_ptr<server::TThreadedServer> server_;
  std::thread serve_thread_;
  int port_ = 0;
};

struct Stack {
  TransportKind transport;
  ProtocolKind protocol;
};

std::string StackName(const ::testing::TestParamInfo<Stack>& info) {
  return std::string(ToString(info.param.transport)) + "_" + ToString(info.param.protocol);
}

class SequenceCheckingTest : public ::testing::TestWithParam<Stack> {
 protected:
  ClientOptions Client(const ScriptedServer& server) const {
    ClientOptions client;
    client.port = server.port();
    client.transport = GetParam().transport;
    client.protocol = GetParam().protocol;
    client.recv_timeout = std::chrono::milliseconds(2000);
    return client;
  }
  static PoolOptions OneConnection() {
    PoolOptions pool;
    pool.max_cap = 1;
    pool.max_idle = 1;
    return pool;
  }
  // getUser(id) through the pool; returns the id of the user that came back.
  static std::int64_t GetUser(UserPool& pool, std::int64_t id, CallOptions call = {}) {
    User user;
    pool.Call([&](UserServiceClient& c) { c.getUser(user, id); }, call);
    return user.id;
  }
};

TEST_P(SequenceCheckingTest, EachRequestCarriesItsOwnIdAndMatchingRepliesPass) {
  ScriptedServer server(Script::kCorrect, GetParam().transport, GetParam().protocol);
  UserPool pool(Client(server), OneConnection());
  for (int id = 1; id <= 20; ++id) ASSERT_EQ(GetUser(pool, id), id);
  // One connection: the ids are 1, 2, 3, ... where the generated client wrote 0 every time.
  const std::vector<std::int32_t> seqids = server.received_seqids();
  ASSERT_EQ(seqids.size(), 20u);
  for (std::size_t i = 0; i < seqids.size(); ++i) EXPECT_EQ(seqids[i], static_cast<int>(i) + 1);
  EXPECT_EQ(pool.Stats().sequence_mismatches, 0u);
}

TEST_P(SequenceCheckingTest, AReplyWithAnotherIdIsRejectedAndCounted) {
  ScriptedServer server(Script::kWrongId, GetParam().transport, GetParam().protocol);
  UserPool pool(Client(server), OneConnection());
  for (int id = 1; id <= 5; ++id) {
    EXPECT_THROW(GetUser(pool, id), TProtocolException);
  }
  // Every connection was discarded after its mismatch: one connection per call.
  const ClientPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.sequence_mismatches, 5u);
  EXPECT_EQ(stats.pool.created, 5u);
}

TEST_P(SequenceCheckingTest, AReplyNamingAnotherMethodIsRejectedAndCounted) {
  ScriptedServer server(Script::kOtherMethodName, GetParam().transport, GetParam().protocol);
  UserPool pool(Client(server), OneConnection());
  try {
    GetUser(pool, 7);
    FAIL() << "a reply named createUser was taken as getUser's answer";
  } catch (const TProtocolException& e) {
    EXPECT_EQ(e.getType(), TProtocolException::INVALID_DATA);
    EXPECT_NE(std::string(e.what()).find("createUser"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("getUser"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool.Stats().sequence_mismatches, 1u);
}

// The generated client skips a message that is not a reply and would read what follows as the
// result; the check refuses it.
TEST_P(SequenceCheckingTest, AMessageThatIsNotAReplyIsRejected) {
  ScriptedServer server(Script::kCallType, GetParam().transport, GetParam().protocol);
  UserPool pool(Client(server), OneConnection());
  try {
    GetUser(pool, 3);
    FAIL() << "a T_CALL message was taken as the reply";
  } catch (const TProtocolException& e) {
    EXPECT_NE(std::string(e.what()).find("where a reply was expected"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(pool.Stats().sequence_mismatches, 1u);
}

// The take-out probe is off, so only the id check stands between the duplicate left in the
// socket and the next call: the next call reads it, rejects it, and (idempotent) is retried on
// another connection, which answers it rightly.
TEST_P(SequenceCheckingTest, AStaleReplyIsNeverTakenForTheNextCallsAnswer) {
  ScriptedServer server(Script::kAnswerTwice, GetParam().transport, GetParam().protocol);
  ClientOptions client = Client(server);
  client.take_out_probe = false;
  UserPool pool(client, OneConnection());
  int wrong_answers = 0;
  for (int id = 1; id <= 40; ++id) wrong_answers += GetUser(pool, id, kIdempotent) != id;
  EXPECT_EQ(wrong_answers, 0);
  // From the second call on, each call's connection holds the duplicate of the answer it gave
  // last: each call meets it, and its retry on a new connection leaves the next duplicate.
  const ClientPoolStats stats = pool.Stats();
  EXPECT_EQ(stats.sequence_mismatches, 39u);
  EXPECT_EQ(stats.retries, 39u);
}

// Control: the same server and client with the check off do return someone else's answer.
TEST_P(SequenceCheckingTest, WithoutTheCheckTheStaleReplyIsTakenAsTheAnswer) {
  ScriptedServer server(Script::kAnswerTwice, GetParam().transport, GetParam().protocol);
  ClientOptions client = Client(server);
  client.take_out_probe = false;
  client.check_sequence_ids = false;
  UserPool pool(client, OneConnection());
  int wrong_answers = 0;
  for (int id = 1; id <= 40; ++id) wrong_answers += GetUser(pool, id, kIdempotent) != id;
  EXPECT_GT(wrong_answers, 0);
  EXPECT_EQ(pool.Stats().sequence_mismatches, 0u);
}

// A client that checks ids itself (the generated ConcurrentClient) still gets back the id it
// wrote, so the decorator is invisible to it.
TEST_P(SequenceCheckingTest, TheGeneratedClientSeesTheIdItWrote) {
  example::UserServerOptions options;
  options.users = 100;
  options.transport = GetParam().transport;
  options.protocol = GetParam().protocol;
  example::UserServer real_server(options);
  real_server.Start();
  ClientOptions client;
  client.port = real_server.port();
  client.transport = GetParam().transport;
  client.protocol = GetParam().protocol;
  client.recv_timeout = std::chrono::milliseconds(2000);
  ThriftConnection connection(client);
  example::UserServiceConcurrentClient checked(
      connection.protocol(), std::make_shared<apache::thrift::async::TConcurrentClientSyncInfo>());
  for (int id = 1; id <= 5; ++id) {
    User user;
    checked.getUser(user, id);
    EXPECT_EQ(user.id, id);
  }
}

INSTANTIATE_TEST_SUITE_P(AllStacks, SequenceCheckingTest,
                         ::testing::Values(Stack{TransportKind::kBuffered, ProtocolKind::kBinary},
                                           Stack{TransportKind::kBuffered, ProtocolKind::kCompact},
                                           Stack{TransportKind::kFramed, ProtocolKind::kBinary},
                                           Stack{TransportKind::kFramed, ProtocolKind::kCompact}),
                         StackName);

}  // namespace
}  // namespace thriftpool
