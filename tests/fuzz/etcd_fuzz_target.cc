// Fuzz target: arbitrary bytes as etcd's answers, to the parsers thriftpool::discovery runs on
// them (the gateway's range, watch, lease grant and keep-alive responses, an endpoint value,
// base64). The first byte chooses the parser, the rest is the text. Returning a result or
// throwing std::invalid_argument are the acceptable outcomes; any other exception aborts, and
// the sanitizers and -malloc_limit_mb report the rest.
//
// Built twice: as the libFuzzer binary etcd_fuzzer (-DTHRIFTPOOL_LIBFUZZER), and with the main
// below as etcd_fuzz_regression, which replays corpus/etcd_fuzzer in the default suite and fails
// if some parser never accepted an input (the corpus no longer reaches its success path).
#include <thriftpool/etcd_endpoint_value.h>
#include <thriftpool/internal/etcd_json.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

#include "allocation_tracker.h"
#include "corpus_files.h"

namespace thriftpool::fuzz {
namespace {

namespace etcd = discovery::internal;

constexpr int kParsers = 6;
constexpr const char* kParserNames[kParsers] = {"range",      "watch",          "lease grant",
                                                "keep-alive", "endpoint value", "base64"};
std::uint64_t accepted[kParsers] = {};
std::uint64_t refused[kParsers] = {};

void Parse(int parser, std::string_view text) {
  switch (parser) {
    case 0:
      etcd::ParseRangeResponse(text);
      break;
    case 1:
      etcd::ParseWatchResponse(text);
      break;
    case 2:
      etcd::ParseLeaseGrantResponse(text);
      break;
    case 3:
      etcd::ParseKeepAliveResponse(text);
      break;
    case 4:
      discovery::ParseEndpointValue(text);
      break;
    default:
      etcd::Base64Decode(text);
  }
}

std::string Summary() {
  std::string out = "inputs accepted / refused per parser:";
  for (int p = 0; p < kParsers; ++p) {
    out += std::string(" ") + kParserNames[p] + " " + std::to_string(accepted[p]) + "/" +
           std::to_string(refused[p]) + ";";
  }
  return out + "\n" + FormatLargestAllocation();
}

}  // namespace
}  // namespace thriftpool::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace thriftpool::fuzz;
  if (size < 1) return 0;
  TrackAllocations();
  const int parser = data[0] % kParsers;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  BeginInput();
  try {
    Parse(parser, text);
    ++accepted[parser];
  } catch (const std::invalid_argument&) {
    ++refused[parser];
  } catch (const std::exception& e) {
    std::fprintf(stderr, "etcd fuzz target: unexpected %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  EndInput();
  return 0;
}

#ifdef THRIFTPOOL_LIBFUZZER
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] { std::fputs(thriftpool::fuzz::Summary().c_str(), stderr); });
  return 0;
}
#else
int main(int argc, char** argv) {
  using namespace thriftpool::fuzz;
  const int files = ReplayCorpus(argc, argv);
  if (files < 0) return 1;
  std::printf("%d files\n%s", files, Summary().c_str());
  bool ok = files > 0;
  for (int p = 0; p < kParsers; ++p) {
    if (accepted[p] == 0) {
      std::fprintf(stderr, "FAIL: no input accepted by the %s parser\n", kParserNames[p]);
      ok = false;
    }
  }
  if (LargestAllocation() >= (1 << 20)) {
    std::fprintf(stderr, "FAIL: an input allocated %zu bytes at once\n", LargestAllocation());
    ok = false;
  }
  return ok ? 0 : 1;
}
#endif
