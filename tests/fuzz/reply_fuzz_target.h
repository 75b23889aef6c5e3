// What the reply fuzz target saw, for the regression driver and the fuzzer's exit summary.
#ifndef THRIFTPOOL_TESTS_FUZZ_REPLY_FUZZ_TARGET_H_
#define THRIFTPOOL_TESTS_FUZZ_REPLY_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace thriftpool::fuzz {

// How a call ended. Every one of these is an acceptable outcome; anything else aborts.
enum Outcome { kOk, kDeclared, kApplication, kTransport, kProtocol, kPoolError, kOutcomes };
// buffered+binary, buffered+compact, framed+binary, framed+compact.
inline constexpr int kCombinations = 4;

struct ReplyFuzzStats {
  std::uint64_t inputs = 0;  // inputs that made a call (shorter than 2 bytes: none)
  std::uint64_t outcomes[kCombinations][kOutcomes] = {};
  // The largest single allocation while a call ran; tracked only under a sanitizer that offers
  // malloc hooks (ASan, TSan), else allocation_tracked is false.
  bool allocation_tracked = false;
  std::size_t largest_allocation = 0;
};

// Not thread-safe: read it between inputs.
const ReplyFuzzStats& GetReplyFuzzStats();
// Several lines: the outcomes per combination and the largest allocation.
std::string FormatReplyFuzzStats();
const char* CombinationName(int combination);

}  // namespace thriftpool::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

#endif  // THRIFTPOOL_TESTS_FUZZ_REPLY_FUZZ_TARGET_H_
