#include "sequence_checking_protocol.h"

#include <thrift/protocol/TProtocolException.h>

#include <utility>

namespace thriftpool::internal {

using apache::thrift::protocol::T_EXCEPTION;
using apache::thrift::protocol::T_ONEWAY;
using apache::thrift::protocol::T_REPLY;
using apache::thrift::protocol::TMessageType;
using apache::thrift::protocol::TProtocol;
using apache::thrift::protocol::TProtocolException;

SequenceCheckingProtocol::SequenceCheckingProtocol(
    std::shared_ptr<TProtocol> inner, std::shared_ptr<std::atomic<std::uint64_t>> mismatches,
    std::string multiplexed_service)
    : TProtocolDecorator(std::move(inner)),
      mismatches_(std::move(mismatches)),
      multiplexed_service_(std::move(multiplexed_service)) {}

bool SequenceCheckingProtocol::NameMatches(const std::string& name, TMessageType type) const {
  if (name == expected_name_) return true;
  // The prefixed name only on TMultiplexedProcessor's error replies: a T_REPLY so named would be
  // skipped by the generated client, which would then wait for another message.
  if (type != T_EXCEPTION) return false;
  const std::size_t prefix = multiplexed_service_.size();
  return prefix > 0 && name.size() == prefix + 1 + expected_name_.size() &&
         name.compare(0, prefix, multiplexed_service_) == 0 && name[prefix] == ':' &&
         name.compare(prefix + 1, std::string::npos, expected_name_) == 0;
}

uint32_t SequenceCheckingProtocol::writeMessageBegin_virt(const std::string& name,
                                                          const TMessageType type,
                                                          const int32_t seqid) {
  ++last_sent_;
  // A oneway call gets no reply; whatever the connection awaited before still stands.
  if (type != T_ONEWAY) {
    awaiting_reply_ = true;
    caller_seqid_ = seqid;
    expected_name_ = name;
  }
  return TProtocolDecorator::writeMessageBegin_virt(name, type,
                                                    static_cast<std::int32_t>(last_sent_));
}

uint32_t SequenceCheckingProtocol::readMessageBegin_virt(std::string& name, TMessageType& type,
                                                         int32_t& seqid) {
  const uint32_t read = TProtocolDecorator::readMessageBegin_virt(name, type, seqid);
  const std::int32_t expected = static_cast<std::int32_t>(last_sent_);
  // Only a reply or an exception answers a call; anything else would make the generated client
  // skip it and take whatever follows as the result.
  const bool answer = type == T_REPLY || type == T_EXCEPTION;
  if (!answer) {
    awaiting_reply_ = false;
    if (mismatches_) mismatches_->fetch_add(1, std::memory_order_relaxed);
    throw TProtocolException(
        TProtocolException::INVALID_DATA,
        "message '" + name + "' of type " + std::to_string(type) + " where a reply was expected");
  }
  if (!awaiting_reply_ || seqid != expected || !NameMatches(name, type)) {
    const bool was_awaiting = awaiting_reply_;
    awaiting_reply_ = false;
    if (mismatches_) mismatches_->fetch_add(1, std::memory_order_relaxed);
    const std::string got = "'" + name + "' with sequence id " + std::to_string(seqid);
    throw TProtocolException(TProtocolException::INVALID_DATA,
                             was_awaiting
                                 ? "reply " + got + " does not match request '" + expected_name_ +
                                       "' with sequence id " + std::to_string(expected)
                                 : "reply " + got + " arrived with no request waiting for one");
  }
  awaiting_reply_ = false;
  seqid = caller_seqid_;
  return read;
}

}  // namespace thriftpool::internal
