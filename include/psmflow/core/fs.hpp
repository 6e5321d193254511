// Crash-safe file writes: everything a crash could leave half-done goes to a temporary name in
// the same directory, is fsynced, then renamed into place (and the directory fsynced).
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace psmflow {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, std::string_view data);
// Writes `data` over the start of an existing file, padded with spaces to the file's size, without
// truncating or growing it: the blocks are the file's already, so this still works when the disk
// or quota is full and write_file_atomic() cannot create its temporary. Not crash-atomic: for a
// last word (a failure record) where the atomic write has failed. Throws naming the file when
// `data` is longer than the file or the write fails.
void overwrite_in_place(const fs::path& path, std::string_view data);
std::string read_file(const fs::path& path);  // throws std::runtime_error naming the file
void fsync_file(const fs::path& path);
void fsync_dir(const fs::path& dir);

// For writers that need a path (HDF5, OpenCV, LibTorch): write to temp(), then commit().
// Without commit() the temporary file is removed, so an exception never leaves a half file.
class AtomicPath {
 public:
  explicit AtomicPath(fs::path final_path);
  ~AtomicPath();
  AtomicPath(const AtomicPath&) = delete;
  AtomicPath& operator=(const AtomicPath&) = delete;
  const fs::path& temp() const { return temp_; }
  const fs::path& final_path() const { return final_; }
  void commit();

 private:
  fs::path final_;
  fs::path temp_;
  bool committed_ = false;
};

// Temporary names all contain this marker, then "<pid>@<host>.", so that stale ones from a crash
// can be recognised.
inline constexpr std::string_view kTempMarker = ".psmflow-tmp.";
bool is_temp_name(const fs::path& path);
// The file a temporary will become (for messages: the temporary is gone when they are read);
// any other path unchanged.
fs::path destination_of(const fs::path& path);
// Removes the temporaries under dir (recursively) whose writer was a process on this host that is
// gone (killed, or aborted before its AtomicPath could clean up); returns how many. Files of live
// processes and of other hosts (a shared file system) are left alone.
std::size_t remove_stale_temps(const fs::path& dir);
// The same in dir itself, not in its subfolders.
std::size_t remove_stale_temps_in(const fs::path& dir);

}  // namespace psmflow
