// libFuzzer target: arbitrary bytes as a server's reply to a call made through ThriftClientPool.
//
// Each input is one call on a fresh pool (no state carries over between inputs) whose single
// connection goes to a loopback listener of this process. The call is split into the generated
// client's send_X and recv_X; between the two, the same thread plays the server: it accepts the
// connection, reads the whole request with Thrift, writes the reply built from the input, and
// closes. The reply thus travels through the real client stack (socket, buffered or framed
// transport, binary or compact protocol, the multiplexing and sequence-id decorators, the
// generated reader, Call's error handling), with no thread to synchronise.
//
// Input layout:
//   byte 0: bit 0 framed (else buffered), bit 1 compact (else binary), bits 2-4 the method
//           ((value % 6): getUser, createUser, ping, sleepMs, ServerInfo's userCount, uptimeMs),
//           bit 5 multiplexed, bit 6 sequence-id check off
//   byte 1: bit 0 write a message header copied from the request (its name and sequence id, so
//           that the body parser is reached), bits 1-3 that header's message type (0..7; 2 is
//           REPLY, 3 EXCEPTION), bit 4 strip the "<service>:" prefix from a multiplexed name,
//           bit 5 framed only: prefix the reply with its frame length, bit 6 sequence id + 1
//   rest:   the reply's bytes (after the header and frame length when those bits are set),
//           at most kMaxBody of them
// With the size limits small (kMaxMessageSize, kMaxFrameSize), the fuzzer reaches them.
//
// Acceptable outcomes: success, UserNotFound, TApplicationException, TTransportException,
// TProtocolException, PoolError. Any other exception aborts (a bug), as do sanitizer reports and
// a connection that went back to the pool after a transport or protocol error.
#include "reply_fuzz_target.h"

#include <arpa/inet.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <thrift/TApplicationException.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/pool_errors.h>
#include <thriftpool/thrift_client_pool.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <typeinfo>

#include "ServerInfo.h"
#include "UserService.h"
#include "allocation_tracker.h"

namespace thriftpool::fuzz {
namespace {

namespace at = apache::thrift;
using at::protocol::TBinaryProtocol;
using at::protocol::TCompactProtocol;
using at::protocol::TMessageType;
using at::protocol::TProtocol;
using at::transport::TBufferedTransport;
using at::transport::TFramedTransport;
using at::transport::TMemoryBuffer;
using at::transport::TSocket;
using at::transport::TTransport;
using example::ServerInfoClient;
using example::UserServiceClient;

constexpr std::int32_t kMaxMessageSize = 4096;  // ClientOptions' smallest allowed is 1 KiB
constexpr std::int32_t kMaxFrameSize = 1024;
constexpr std::size_t kMaxBody =
    32 * 1024;                        // fits a loopback socket's buffer: the write never waits
constexpr int kPeerTimeoutMs = 2000;  // only a bug makes anything wait this long

ReplyFuzzStats stats;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "reply fuzz target: %s\n", what.c_str());
  std::abort();
}

struct Input {
  bool framed, compact, multiplexed, check_ids;
  int method;
  bool header, strip_prefix, frame_length, seqid_off_by_one;
  int message_type;
  const std::uint8_t* body;
  std::size_t body_size;
};

Input Parse(const std::uint8_t* data, std::size_t size) {
  Input in;
  in.framed = data[0] & 1;
  in.compact = data[0] & 2;
  in.method = ((data[0] >> 2) & 7) % 6;
  in.multiplexed = data[0] & 0x20;
  in.check_ids = !(data[0] & 0x40);
  in.header = data[1] & 1;
  in.message_type = (data[1] >> 1) & 7;
  in.strip_prefix = data[1] & 0x10;
  in.frame_length = data[1] & 0x20;
  in.seqid_off_by_one = data[1] & 0x40;
  in.body = data + 2;
  in.body_size = std::min(size - 2, kMaxBody);
  return in;
}

std::shared_ptr<TProtocol> MakeProtocol(bool compact, std::shared_ptr<TTransport> transport) {
  if (compact) return std::make_shared<TCompactProtocol>(std::move(transport));
  return std::make_shared<TBinaryProtocol>(std::move(transport));
}

// The loopback listener, made once and reused by every input.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);  // Drain must not wait
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(fd_, 16) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      Fail("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  int port() const { return port_; }

  // Closes connections left in the backlog by an input whose call never reached its server
  // part, so that every input starts alone.
  void Drain() {
    int fd;
    while ((fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) close(fd);
  }

  // Accepts the client's connection (already in the backlog: the pool connected before send_X).
  int Accept() {
    pollfd ready{fd_, POLLIN, 0};
    if (poll(&ready, 1, kPeerTimeoutMs) != 1) Fail("the client's connection never arrived");
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) Fail("accept failed");
    return fd;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

Listener& TheListener() {
  static Listener* listener = [] {
    signal(SIGPIPE, SIG_IGN);
    FLAGS_minloglevel = google::GLOG_ERROR;  // Thrift's per-call warnings would flood the output
    stats.allocation_tracked = TrackAllocations();
    return new Listener;
  }();
  return *listener;
}

// The server's side of one call: reads the request the client has sent, answers with the
// input's reply and closes (a FIN: the request was read whole, so no reset).
void Serve(const Input& in) {
  auto socket = std::make_shared<TSocket>(TheListener().Accept());
  socket->setRecvTimeout(kPeerTimeoutMs);
  socket->setSendTimeout(kPeerTimeoutMs);
  std::shared_ptr<TTransport> transport = socket;
  if (in.framed) {
    transport = std::make_shared<TFramedTransport>(socket);
  } else {
    transport = std::make_shared<TBufferedTransport>(socket);
  }
  auto protocol = MakeProtocol(in.compact, transport);
  std::string name;
  TMessageType type;
  std::int32_t seqid;
  try {
    protocol->readMessageBegin(name, type, seqid);
    protocol->skip(at::protocol::T_STRUCT);
    protocol->readMessageEnd();
  } catch (const at::TException& e) {
    Fail(std::string("the client's request is unreadable: ") + e.what());
  }
  if (type != at::protocol::T_CALL) Fail("the client's request is not a T_CALL: " + name);

  auto reply = std::make_shared<TMemoryBuffer>();
  if (in.header) {
    const std::size_t colon = name.find(':');
    if (in.strip_prefix && colon != std::string::npos) name.erase(0, colon + 1);
    MakeProtocol(in.compact, reply)
        ->writeMessageBegin(name, static_cast<TMessageType>(in.message_type),
                            seqid + (in.seqid_off_by_one ? 1 : 0));
  }
  reply->write(in.body, static_cast<std::uint32_t>(in.body_size));
  std::string bytes = reply->getBufferAsString();
  if (in.framed && in.frame_length) {
    const std::uint32_t length = htonl(static_cast<std::uint32_t>(bytes.size()));
    bytes.insert(0, reinterpret_cast<const char*>(&length), sizeof(length));
  }
  socket->write(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                static_cast<std::uint32_t>(bytes.size()));
  socket->close();
}

// One call of the input's method, on a pool of its own, with no retries: one connection, one
// reply per input.
template <class Client, class Send, class Receive>
void Exchange(const Input& in, const char* service, Send send, Receive receive) {
  ClientOptions client;
  client.port = TheListener().port();
  client.transport = in.framed ? TransportKind::kFramed : TransportKind::kBuffered;
  client.protocol = in.compact ? ProtocolKind::kCompact : ProtocolKind::kBinary;
  client.connect_timeout = client.recv_timeout = client.send_timeout =
      std::chrono::milliseconds(kPeerTimeoutMs);
  client.max_message_size = kMaxMessageSize;
  client.max_frame_size = kMaxFrameSize;
  client.check_sequence_ids = in.check_ids;
  if (in.multiplexed) client.multiplexed_service = service;
  client.retry.max_retries = 0;
  PoolOptions pool;
  pool.max_cap = pool.max_idle = 1;
  ThriftClientPool<Client> clients(client, pool);
  try {
    clients.Call([&](Client& c) {
      send(c);
      Serve(in);
      receive(c);
    });
  } catch (const at::transport::TTransportException&) {
    if (clients.Stats().pool.idle > 0) Fail("the pool kept a connection after a transport error");
    throw;
  } catch (const at::protocol::TProtocolException&) {
    if (clients.Stats().pool.idle > 0) Fail("the pool kept a connection after a protocol error");
    throw;
  } catch (const at::TException& e) {
    // TApplicationException and the declared exceptions derive from TException; a bare one is
    // none of the documented outcomes, and its stream may be out of sync.
    if (typeid(e) == typeid(at::TException)) {
      Fail(std::string("a bare TException reached the caller (") + e.what() + "); the pool " +
           (clients.Stats().pool.idle > 0 ? "kept" : "discarded") + " the connection");
    }
    throw;
  }
}

void CallMethod(const Input& in) {
  switch (in.method) {
    case 0:
      return Exchange<UserServiceClient>(
          in, "UserService", [](UserServiceClient& c) { c.send_getUser(7); },
          [](UserServiceClient& c) {
            example::User user;
            c.recv_getUser(user);
          });
    case 1:
      return Exchange<UserServiceClient>(
          in, "UserService", [](UserServiceClient& c) { c.send_createUser("ann", "ann@x"); },
          [](UserServiceClient& c) { c.recv_createUser(); });
    case 2:
      return Exchange<UserServiceClient>(
          in, "UserService", [](UserServiceClient& c) { c.send_ping(); },
          [](UserServiceClient& c) { c.recv_ping(); });
    case 3:
      return Exchange<UserServiceClient>(
          in, "UserService", [](UserServiceClient& c) { c.send_sleepMs(1); },
          [](UserServiceClient& c) { c.recv_sleepMs(); });
    case 4:
      return Exchange<ServerInfoClient>(
          in, "ServerInfo", [](ServerInfoClient& c) { c.send_userCount(); },
          [](ServerInfoClient& c) { c.recv_userCount(); });
    default:
      return Exchange<ServerInfoClient>(
          in, "ServerInfo", [](ServerInfoClient& c) { c.send_uptimeMs(); },
          [](ServerInfoClient& c) { c.recv_uptimeMs(); });
  }
}

Outcome Run(const Input& in) {
  try {
    CallMethod(in);
    return kOk;
  } catch (const example::UserNotFound&) {
    return kDeclared;
  } catch (const at::TApplicationException&) {
    return kApplication;
  } catch (const at::transport::TTransportException&) {
    return kTransport;
  } catch (const at::protocol::TProtocolException&) {
    return kProtocol;
  } catch (const PoolError&) {
    return kPoolError;
  } catch (const std::exception& e) {
    Fail(std::string("unexpected exception ") + typeid(e).name() + ": " + e.what());
  } catch (...) {
    Fail("unexpected exception of an unknown type");
  }
}

}  // namespace

const ReplyFuzzStats& GetReplyFuzzStats() {
  stats.largest_allocation = LargestAllocation();
  return stats;
}

const char* CombinationName(int combination) {
  static const char* const kNames[kCombinations] = {"buffered+binary", "buffered+compact",
                                                    "framed+binary", "framed+compact"};
  return kNames[combination];
}

std::string FormatReplyFuzzStats() {
  const ReplyFuzzStats& s = GetReplyFuzzStats();
  std::ostringstream out;
  out << "inputs " << s.inputs << " (ok / declared / application / transport / protocol / pool)\n";
  for (int c = 0; c < kCombinations; ++c) {
    out << "  " << CombinationName(c) << ":";
    for (int o = 0; o < kOutcomes; ++o) out << (o ? " / " : " ") << s.outcomes[c][o];
    out << "\n";
  }
  out << FormatLargestAllocation();
  return out.str();
}

}  // namespace thriftpool::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace thriftpool::fuzz;
  if (size < 2) return 0;
  const Input in = Parse(data, size);
  TheListener().Drain();
  BeginInput();
  const Outcome outcome = Run(in);
  EndInput();
  ++stats.inputs;
  ++stats.outcomes[(in.framed ? 2 : 0) + (in.compact ? 1 : 0)][outcome];
  return 0;
}

#ifdef THRIFTPOOL_LIBFUZZER
// The libFuzzer binary prints what its inputs did when it ends (tests/fuzz/run quotes it).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] { std::fputs(thriftpool::fuzz::FormatReplyFuzzStats().c_str(), stderr); });
  return 0;
}
#endif
