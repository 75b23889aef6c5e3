// Proves that an installed thriftpool can be found and used: a generic pool, and a Thrift client
// pool whose server is down (a bound, non-listening loopback port refuses connections).
#include <netinet/in.h>
#include <sys/socket.h>
#include <thrift/transport/TTransportException.h>
#include <thriftpool/channel_pool.h>
#include <thriftpool/thrift_client_pool.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "UserService.h"

namespace {

// A loopback port that refuses connections while `fd` stays open.
int RefusingPort(int* fd) {
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(*fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return -1;
  }
  return ntohs(addr.sin_port);
}

}  // namespace

int main() {
  thriftpool::PoolOptions options;
  options.max_cap = 2;
  options.max_idle = 2;
  int closed = 0;
  {
    thriftpool::ChannelPool<int> numbers(
        options, [] { return std::make_unique<int>(7); }, [&closed](int&) { ++closed; });
    auto lease = numbers.Get();
    if (*lease != 7) return 1;
  }
  if (closed != 1) return 1;

  int fd;
  thriftpool::ClientOptions client;
  client.port = RefusingPort(&fd);
  thriftpool::ThriftClientPool<thriftpool::example::UserServiceClient> users(client, options);
  try {
    users.Call([](thriftpool::example::UserServiceClient& c) { c.ping(); });
    return 1;
  } catch (const apache::thrift::transport::TTransportException& e) {
    std::printf("consumer: refused as expected (%s)\n", e.what());
  }
  close(fd);
  std::printf("consumer: OK\n");
  return 0;
}
