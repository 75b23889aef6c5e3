// FreeLoopbackPort: a port for programs that take no port 0 (etcd, Prometheus), or an address
// that refuses connections.
#ifndef THRIFTPOOL_TESTS_SUPPORT_LOOPBACK_PORT_H_
#define THRIFTPOOL_TESTS_SUPPORT_LOOPBACK_PORT_H_

namespace thriftpool::testing_support {

// A TCP port on 127.0.0.1 that the kernel just handed out and nobody listens on now (bound to
// port 0, read back, closed). Another process may take it meanwhile; that is rare, as the kernel
// hands out ephemeral ports in turn. 0 if no socket could be bound.
int FreeLoopbackPort();

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_LOOPBACK_PORT_H_
