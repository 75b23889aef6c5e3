// TempDir: a scratch directory for one test (a data directory, generated configuration).
#ifndef THRIFTPOOL_TESTS_SUPPORT_TEMP_DIR_H_
#define THRIFTPOOL_TESTS_SUPPORT_TEMP_DIR_H_

#include <filesystem>
#include <string>

namespace thriftpool::testing_support {

// A fresh directory under the temporary directory, named "<prefix>-XXXXXX", removed with
// everything in it on destruction. path() is empty if it could not be made. Not copyable.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace thriftpool::testing_support

#endif  // THRIFTPOOL_TESTS_SUPPORT_TEMP_DIR_H_
