#include "psmflow/core/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace psmflow {
namespace {

std::runtime_error io_error(const std::string& what, const fs::path& p) {
  return std::runtime_error(what + " " + p.string() + ": " + std::strerror(errno));
}

fs::path temp_name_for(const fs::path& final_path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream name;
  // The extension stays last: OpenCV and some HDF5 tools choose the format from it.
  name << final_path.stem().string() << kTempMarker << ::getpid() << "." << std::hex << rng()
       << final_path.extension().string();
  return final_path.parent_path() / name.str();
}

}  // namespace

void fsync_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw io_error("cannot open for fsync", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw io_error("fsync failed on", path);
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw io_error("cannot open directory", dir);
  ::fsync(fd);  // some filesystems refuse directory fsync; the rename itself has happened
  ::close(fd);
}

void write_file_atomic(const fs::path& path, std::string_view data) {
  AtomicPath out(path);
  int fd = ::open(out.temp().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw io_error("cannot create", out.temp());
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw io_error("cannot write", out.temp());
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw io_error("cannot flush", out.temp());
  out.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot read", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

AtomicPath::AtomicPath(fs::path final_path) : final_(std::move(final_path)), temp_(temp_name_for(final_)) {
  if (!final_.parent_path().empty()) fs::create_directories(final_.parent_path());
}

AtomicPath::~AtomicPath() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

void AtomicPath::commit() {
  if (fs::is_regular_file(temp_)) fsync_file(temp_);
  std::error_code ec;
  fs::rename(temp_, final_, ec);
  if (ec) throw std::runtime_error("cannot rename " + temp_.string() + " to " + final_.string() + ": " + ec.message());
  committed_ = true;
  fsync_dir(final_.parent_path());
}

bool is_temp_name(const fs::path& path) {
  return path.filename().string().find(kTempMarker) != std::string::npos;
}

}  // namespace psmflow
