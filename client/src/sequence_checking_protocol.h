// SequenceCheckingProtocol: gives every request on one connection its own sequence id and checks
// that each reply carries that id and the request's method name.
//
// Thrift's generated (non-concurrent) client writes sequence id 0 on every call and never looks
// at the reply's id, so a reply that arrives late (after a timeout) or twice is taken as the
// answer to whatever call reads next. Checking here makes that impossible even when the take-out
// probe did not see the stray bytes (they can arrive after the probe ran).
#ifndef THRIFTPOOL_CLIENT_SRC_SEQUENCE_CHECKING_PROTOCOL_H_
#define THRIFTPOOL_CLIENT_SRC_SEQUENCE_CHECKING_PROTOCOL_H_

#include <thrift/protocol/TProtocolDecorator.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace thriftpool::internal {

// Wraps the protocol of one connection. Not thread-safe (one user at a time, like the connection).
class SequenceCheckingProtocol : public apache::thrift::protocol::TProtocolDecorator {
 public:
  // `mismatches` (may be null) is incremented once per detected mismatch. `multiplexed_service`
  // (may be empty): the service a TMultiplexedProtocol under this one names; a reply may then
  // also carry the request's name prefixed "<service>:", as TMultiplexedProcessor's error
  // replies do (unknown service), so that the caller sees that TApplicationException.
  SequenceCheckingProtocol(std::shared_ptr<apache::thrift::protocol::TProtocol> inner,
                           std::shared_ptr<std::atomic<std::uint64_t>> mismatches,
                           std::string multiplexed_service);

  // Replaces the caller's sequence id with this connection's next one and remembers the caller's
  // id and the method name until the reply is read.
  uint32_t writeMessageBegin_virt(const std::string& name,
                                  const apache::thrift::protocol::TMessageType type,
                                  const int32_t seqid) override;
  // Throws TProtocolException(INVALID_DATA) naming both sides when the reply's id or method name
  // differs from the request's, when it is not a reply or an exception, or when no request is
  // waiting for a reply; otherwise hands the caller back the id it wrote.
  uint32_t readMessageBegin_virt(std::string& name, apache::thrift::protocol::TMessageType& type,
                                 int32_t& seqid) override;

 private:
  bool NameMatches(const std::string& name, apache::thrift::protocol::TMessageType type) const;

  const std::shared_ptr<std::atomic<std::uint64_t>> mismatches_;
  const std::string multiplexed_service_;
  std::uint32_t last_sent_ = 0;  // the id of the newest request; ids wrap modulo 2^32
  bool awaiting_reply_ = false;
  std::int32_t caller_seqid_ = 0;
  std::string expected_name_;
};

}  // namespace thriftpool::internal

#endif  // THRIFTPOOL_CLIENT_SRC_SEQUENCE_CHECKING_PROTOCOL_H_
