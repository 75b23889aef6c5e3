#include <thriftpool/transport_error.h>

namespace thriftpool {

const char* TransportErrorKind(
    apache::thrift::transport::TTransportException::TTransportExceptionType type) {
  using apache::thrift::transport::TTransportException;
  switch (type) {
    case TTransportException::UNKNOWN:
      return "UNKNOWN";
    case TTransportException::NOT_OPEN:
      return "NOT_OPEN";
    case TTransportException::TIMED_OUT:
      return "TIMED_OUT";
    case TTransportException::END_OF_FILE:
      return "END_OF_FILE";
    case TTransportException::INTERRUPTED:
      return "INTERRUPTED";
    case TTransportException::BAD_ARGS:
      return "BAD_ARGS";
    case TTransportException::CORRUPTED_DATA:
      return "CORRUPTED_DATA";
    case TTransportException::INTERNAL_ERROR:
      return "INTERNAL_ERROR";
    case TTransportException::CLIENT_DISCONNECT:
      return "CLIENT_DISCONNECT";
  }
  return "?";
}

}  // namespace thriftpool
