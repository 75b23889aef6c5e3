#include <gtest/gtest.h>
#include <thriftpool/transport_error.h>

namespace thriftpool {
namespace {

using apache::thrift::transport::TTransportException;

TEST(TransportErrorKind, NamesEveryType) {
  EXPECT_STREQ(TransportErrorKind(TTransportException::UNKNOWN), "UNKNOWN");
  EXPECT_STREQ(TransportErrorKind(TTransportException::NOT_OPEN), "NOT_OPEN");
  EXPECT_STREQ(TransportErrorKind(TTransportException::TIMED_OUT), "TIMED_OUT");
  EXPECT_STREQ(TransportErrorKind(TTransportException::END_OF_FILE), "END_OF_FILE");
  EXPECT_STREQ(TransportErrorKind(TTransportException::INTERRUPTED), "INTERRUPTED");
  EXPECT_STREQ(TransportErrorKind(TTransportException::BAD_ARGS), "BAD_ARGS");
  EXPECT_STREQ(TransportErrorKind(TTransportException::CORRUPTED_DATA), "CORRUPTED_DATA");
  EXPECT_STREQ(TransportErrorKind(TTransportException::INTERNAL_ERROR), "INTERNAL_ERROR");
  EXPECT_STREQ(TransportErrorKind(TTransportException::CLIENT_DISCONNECT), "CLIENT_DISCONNECT");
}

TEST(TransportErrorKind, AnUnknownValueIsAQuestionMark) {
  EXPECT_STREQ(TransportErrorKind(static_cast<TTransportException::TTransportExceptionType>(99)),
               "?");
}

}  // namespace
}  // namespace thriftpool
