// Helpers shared by the tests: scratch folders, running the psmflow binary, shared/ paths.
#pragma once
#include <filesystem>
#include <string>

namespace psmflow::test {
namespace fs = std::filesystem;

// A fresh folder under $TMPDIR removed at destruction (kept when PSMFLOW_KEEP_TEST_DIRS is set).
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command line, capturing its output.
CommandResult run_shell(const std::string& command);
// Runs the built psmflow binary with the given (already quoted) arguments.
CommandResult run_psmflow(const std::string& args);
std::string shell_quote(const std::string& s);

// Runs Python statements on `file` opened read-write with python3-h5py as `f` (numpy as `np`):
// how the tests make files "written by something else".
CommandResult edit_with_h5py(const fs::path& file, const std::string& statements);

fs::path shared_dir();  // ../shared beside the checkout
fs::path psmflow_binary();
void write_text(const fs::path& p, const std::string& text);

// While alive, this process may write files of at most `bytes` bytes, and SIGXFSZ is ignored:
// a write past it fails with EFBIG ("File too large") where a full disk fails with ENOSPC.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(unsigned long bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  unsigned long old_soft_ = 0;
  void (*old_handler_)(int) = nullptr;
};

}  // namespace psmflow::test
