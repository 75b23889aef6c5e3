// The inputs of a corpus, for the regression drivers that replay it without libFuzzer.
#ifndef THRIFTPOOL_TESTS_FUZZ_CORPUS_FILES_H_
#define THRIFTPOOL_TESTS_FUZZ_CORPUS_FILES_H_

namespace thriftpool::fuzz {

// Feeds the regular files of each directory argument, and each file argument, in sorted order,
// to the target's LLVMFuzzerTestOneInput. Returns how many, or -1 if one cannot be read (said on
// stderr).
int ReplayCorpus(int argc, char** argv);

}  // namespace thriftpool::fuzz

#endif  // THRIFTPOOL_TESTS_FUZZ_CORPUS_FILES_H_
