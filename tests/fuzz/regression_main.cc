// Feeds every file of the given corpus directories (or files) to the reply fuzz target, without
// libFuzzer: the corpus as a regression test of the default suite. Fails when an input crashes
// or aborts (as under the fuzzer), when there is no input, when a transport/protocol combination
// never reached a successful call (the corpus no longer gets past the message header), or when
// a call allocated more than kAllocationBound in one piece (the size limits did not hold).
#include <cstdio>

#include "corpus_files.h"
#include "reply_fuzz_target.h"

namespace {

constexpr std::size_t kAllocationBound = 1 << 20;  // the fuzz script's -malloc_limit_mb=1

}  // namespace

int main(int argc, char** argv) {
  namespace fuzz = thriftpool::fuzz;
  const int files = fuzz::ReplayCorpus(argc, argv);
  if (files < 0) return 1;
  std::printf("%d files\n%s", files, fuzz::FormatReplyFuzzStats().c_str());
  const fuzz::ReplyFuzzStats& stats = fuzz::GetReplyFuzzStats();
  bool ok = stats.inputs > 0;
  if (!ok) std::fprintf(stderr, "FAIL: no input made a call\n");
  for (int c = 0; c < fuzz::kCombinations; ++c) {
    if (stats.outcomes[c][fuzz::kOk] == 0) {
      std::fprintf(stderr, "FAIL: no successful call on %s\n", fuzz::CombinationName(c));
      ok = false;
    }
  }
  if (stats.allocation_tracked && stats.largest_allocation > kAllocationBound) {
    std::fprintf(stderr, "FAIL: a call allocated %zu bytes at once (bound %zu)\n",
                 stats.largest_allocation, kAllocationBound);
    ok = false;
  }
  return ok ? 0 : 1;
}
