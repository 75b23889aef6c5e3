#include "support/silent_listener.h"

#include <unistd.h>

#include "support/loopback_socket.h"

namespace thriftpool::testing_support {

SilentListener::SilentListener() { fd_ = ListenOnLoopback(64, &port_); }

SilentListener::~SilentListener() { close(fd_); }

}  // namespace thriftpool::testing_support
