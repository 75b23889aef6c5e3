// TransportErrorKind: a TTransportException's type as text, for logs and failure counts.
#ifndef THRIFTPOOL_TRANSPORT_ERROR_H_
#define THRIFTPOOL_TRANSPORT_ERROR_H_

#include <thrift/transport/TTransportException.h>

namespace thriftpool {

// The enumerator's name, e.g. "NOT_OPEN" for a refused connect or "TIMED_OUT"; "?" for a value
// outside the enumeration. Thread-safe; returns a string literal.
const char* TransportErrorKind(
    apache::thrift::transport::TTransportException::TTransportExceptionType type);

}  // namespace thriftpool

#endif  // THRIFTPOOL_TRANSPORT_ERROR_H_
