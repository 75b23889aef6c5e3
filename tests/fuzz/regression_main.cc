// Feeds every file of the given corpus directories (or files) to the reply fuzz target, without
// libFuzzer: the corpus as a regression test of the default suite. Fails when an input crashes
// or aborts (as under the fuzzer), when there is no input, when a transport/protocol combination
// never reached a successful call (the corpus no longer gets past the message header), or when
// a call allocated more than kAllocationBound in one piece (the size limits did not hold).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "reply_fuzz_target.h"

namespace {

constexpr std::size_t kAllocationBound = 1 << 20;  // the fuzz script's -malloc_limit_mb=1

std::vector<std::filesystem::path> Inputs(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fuzz = thriftpool::fuzz;
  const std::vector<std::filesystem::path> files = Inputs(argc, argv);
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "cannot read %s\n", file.c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("%zu files\n%s", files.size(), fuzz::FormatReplyFuzzStats().c_str());
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
