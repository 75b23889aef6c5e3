// Plain blocking sockets on 127.0.0.1 for the peers tests write themselves (relays, scripted and
// silent servers): listen on a free port, wait a bounded slice for input, send everything.
#ifndef THRIFTPOOL_TESTS_SUPPORT_LOOPBACK_SOCKET_H_
#define THRIFTPOOL_TESTS_SUPPORT_LOOPBACK_SOCKET_H_

#include <netinet/in.h>

#include <cstddef>

namespace thriftpool::testing_support {

// How long ReadableSoon waits: the longest a peer's thread goes without looking at its stop flag.
inline constexpr int kPollSliceMs = 20;

// 127.0.0.1:port.
sockaddr_in LoopbackAddress(int port);

// A listening socket on 127.0.0.1 and a free port; returns the descriptor and sets *port.
// Throws std::runtime_error naming the failed call.
int ListenOnLoopback(int backlog, int* port);

// Waits up to kPollSliceMs for `fd` to become readable (or to end); false on timeout.
bool ReadableSoon(int fd);

// Sends all `size` bytes (never raising SIGPIPE); false once the peer is gone.
bool SendAll(int fd, const char* data, std::size_t size);

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_LOOPBACK_SOCKET_H_
