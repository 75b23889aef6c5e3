// Helpers shared by the server's end-to-end tests.
#ifndef THRIFTPOOL_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define THRIFTPOOL_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <thriftpool/client_options.h>

#include <chrono>
#include <memory>

#include "UserService.h"
#include "support/wait_for.h"

namespace thriftpool::example {

// A plain generated client over its own TSocket to 127.0.0.1, independent of the client library
// under test elsewhere. Connects in the constructor (throws TTransportException).
class TestClient {
 public:
  TestClient(int port, TransportKind transport, ProtocolKind protocol,
             std::chrono::milliseconds recv_timeout = std::chrono::seconds(5))
      : socket_(std::make_shared<apache::thrift::transport::TSocket>("127.0.0.1", port)) {
    socket_->setConnTimeout(1000);
    socket_->setRecvTimeout(static_cast<int>(recv_timeout.count()));
    socket_->setSendTimeout(5000);
    if (transport == TransportKind::kFramed) {
      transport_ = std::make_shared<apache::thrift::transport::TFramedTransport>(socket_);
    } else {
      transport_ = std::make_shared<apache::thrift::transport::TBufferedTransport>(socket_);
    }
    std::shared_ptr<apache::thrift::protocol::TProtocol> protocol_stack;
    if (protocol == ProtocolKind::kCompact) {
      protocol_stack = std::make_shared<apache::thrift::protocol::TCompactProtocol>(transport_);
    } else {
      protocol_stack = std::make_shared<apache::thrift::protocol::TBinaryProtocol>(transport_);
    }
    client_ = std::make_unique<UserServiceClient>(protocol_stack);
    transport_->open();
  }

  UserServiceClient& operator*() { return *client_; }
  UserServiceClient* operator->() { return client_.get(); }
  int fd() const { return socket_->getSocketFD(); }

 private:
  std::shared_ptr<apache::thrift::transport::TSocket> socket_;
  std::shared_ptr<apache::thrift::transport::TTransport> transport_;
  std::unique_ptr<UserServiceClient> client_;
};

using testing_support::WaitFor;

}  // namespace thriftpool::example

#endif  // THRIFTPOOL_TESTS_SERVER_SERVER_TEST_UTIL_H_
