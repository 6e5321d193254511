// Embedding files (layout in psmflow/store/embeddings.hpp): one file per model tag, written to
// a temporary name and renamed; the index of external links is rewritten the same way under an
// exclusive flock on "<index>.lock", so embed stages of one subject may run side by side.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "psmflow/core/fs.hpp"
#include "psmflow/store/embeddings.hpp"
#include "h5_util.hpp"

namespace psmflow {
namespace {

// The widest embedding any preset writes is 512; a file that claims more was not written by psmflow.
constexpr hsize_t kMaxEmbeddingDim = 1 << 16;

class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("cannot create lock file " + path.string() + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd_);
      throw std::runtime_error("cannot lock " + path.string() + ": " + std::strerror(err));
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

void check_tag(const std::string& tag) {
  if (tag.empty() || tag.find_first_of("/.") != std::string::npos)
    throw std::invalid_argument("embedding tag '" + tag + "' must be non-empty without '/' or '.'");
}

void check_shape(const Embeddings& e) {
  auto n = static_cast<std::size_t>(e.n);
  if (e.n < 0 || e.code.size() != n * static_cast<std::size_t>(e.code_dim) ||
      e.feature.size() != n * static_cast<std::size_t>(e.feature_dim) || e.frame_index.size() != n)
    throw std::invalid_argument("write_embeddings: sizes of code/feature/frame_index do not match n = " +
                                std::to_string(e.n));
}

void write_group(hid_t file, const std::string& tag, const Embeddings& e, const std::filesystem::path& path) {
  h5::Handle g(h5::check(H5Gcreate2(file, tag.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate", path));
  hsize_t n = static_cast<hsize_t>(e.n);
  h5::write_dataset(g, "code", H5T_NATIVE_FLOAT, {n, static_cast<hsize_t>(e.code_dim)}, e.code.data(), path);
  h5::write_dataset(g, "feature", H5T_NATIVE_FLOAT, {n, static_cast<hsize_t>(e.feature_dim)}, e.feature.data(), path);
  h5::write_dataset(g, "frame_index", H5T_NATIVE_INT64, {n}, e.frame_index.data(), path);
  h5::write_string_attr(g, "checkpoint", e.checkpoint, path);
  h5::write_string_attr(g, "checkpoint_sha256", e.checkpoint_sha256, path);
}

}  // namespace

void write_embeddings(const std::filesystem::path& file, const std::string& tag, const Embeddings& e) {
  check_tag(tag);
  check_shape(e);
  std::filesystem::create_directories(file.parent_path());
  AtomicPath out(file);
  {
    h5::Handle dst = h5::create_file(out.temp());
    write_group(dst, tag, e, out.temp());
    h5::check_status(H5Fflush(dst, H5F_SCOPE_GLOBAL), "H5Fflush", out.temp());
  }
  out.commit();
}

void write_embeddings_index(const std::filesystem::path& index, const std::filesystem::path& dir) {
  FileLock lock(index.string() + ".lock");
  const std::string rel = dir.lexically_relative(index.parent_path()).string();
  AtomicPath out(index);
  {
    h5::Handle dst = h5::create_file(out.temp());
    for (const auto& tag : embedding_tags(dir)) {
      const std::string target = rel + "/" + tag + ".h5", object = "/" + tag;
      h5::check_status(H5Lcreate_external(target.c_str(), object.c_str(), dst, tag.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                       "H5Lcreate_external", out.temp());
    }
    h5::check_status(H5Fflush(dst, H5F_SCOPE_GLOBAL), "H5Fflush", out.temp());
  }
  out.commit();
}

Embeddings read_embeddings(const std::filesystem::path& file, const std::string& tag) {
  h5::Handle f = h5::open_file(file, false);
  if (!h5::exists(f, tag)) throw std::runtime_error(file.string() + ": no embeddings for tag '" + tag + "'");
  h5::Handle g(h5::check(H5Gopen2(f, tag.c_str(), H5P_DEFAULT), "H5Gopen", file));
  Embeddings e;
  auto cd = h5::read_dataset(g, "code", H5T_NATIVE_FLOAT, e.code, file);
  auto fd = h5::read_dataset(g, "feature", H5T_NATIVE_FLOAT, e.feature, file);
  h5::read_dataset(g, "frame_index", H5T_NATIVE_INT64, e.frame_index, file);
  if (cd.size() != 2 || fd.size() != 2 || cd[0] != fd[0] || cd[0] != e.frame_index.size())
    throw std::runtime_error(file.string() + ": group '" + tag + "' has mismatched code/feature/frame_index shapes");
  if (cd[1] > kMaxEmbeddingDim || fd[1] > kMaxEmbeddingDim)
    throw std::runtime_error(file.string() + ": group '" + tag + "' has embeddings of more than " +
                             std::to_string(kMaxEmbeddingDim) + " dimensions");
  e.n = static_cast<std::int64_t>(cd[0]);
  e.code_dim = static_cast<int>(cd[1]);
  e.feature_dim = static_cast<int>(fd[1]);
  e.checkpoint = h5::read_string_attr(g, "checkpoint", file);
  e.checkpoint_sha256 = h5::read_string_attr(g, "checkpoint_sha256", file);
  return e;
}

std::vector<std::string> embedding_tags(const std::filesystem::path& dir) {
  std::vector<std::string> tags;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".h5" && e.is_regular_file(ec)) tags.push_back(e.path().stem().string());
  std::sort(tags.begin(), tags.end());
  return tags;
}

}  // namespace psmflow
