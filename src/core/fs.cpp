#include "psmflow/core/fs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace psmflow {
namespace {

std::runtime_error io_error(const std::string& what, const fs::path& p) {
  return std::runtime_error(what + " " + p.string() + ": " + std::strerror(errno));
}

// The host name as it appears in temporary names: no dots, so that the name splits back.
std::string host_tag() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  std::string host(buf);
  for (char& c : host)
    if (c == '.' || c == '/') c = '_';
  return host;
}

fs::path temp_name_for(const fs::path& final_path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const std::string host = host_tag();
  std::ostringstream name;
  // <stem>.psmflow-tmp.<pid>@<host>.<random><ext>: the writer is known, so that a later stage can
  // tell a dead writer's file from a live one's. The extension stays last: OpenCV and some HDF5
  // tools choose the format from it.
  name << final_path.stem().string() << kTempMarker << ::getpid() << "@" << host << "." << std::hex << rng()
       << final_path.extension().string();
  return final_path.parent_path() / name.str();
}

// True when the temporary file's writer was a process on this host that no longer exists.
bool writer_is_dead(const fs::path& temp) {
  static const std::string host = host_tag();
  const std::string name = temp.filename().string();
  const std::size_t start = name.find(kTempMarker) + kTempMarker.size();
  const std::size_t at = name.find('@', start);
  if (at == std::string::npos || at == start) return false;
  const std::size_t end = name.find('.', at);
  if (end == std::string::npos || name.compare(at + 1, end - at - 1, host) != 0) return false;
  const std::string digits = name.substr(start, at - start);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(digits));
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

template <class DirIterator>
std::size_t remove_stale_temps_with(const fs::path& dir) {
  std::vector<fs::path> stale;
  std::error_code ec;
  for (auto it = DirIterator(dir, fs::directory_options::skip_permission_denied, ec); !ec && it != DirIterator();
       it.increment(ec))
    if (is_temp_name(it->path()) && writer_is_dead(it->path())) stale.push_back(it->path());
  std::size_t removed = 0;
  for (const auto& p : stale) removed += fs::remove_all(p, ec) > 0;
  return removed;
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

namespace {

// Writes all of `data` at fd's offset, fsyncs and closes fd; errors name `path`.
void write_sync_close(int fd, std::string_view data, const fs::path& path) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int write_errno = errno;
      ::close(fd);
      errno = write_errno;
      throw io_error("cannot write", path);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  if (::close(fd) != 0 || !synced) {
    if (!synced) errno = sync_errno;
    throw io_error("cannot flush", path);
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view data) {
  AtomicPath out(path);
  // Errors name the file the caller asked for: the temporary is gone by the time anyone reads them.
  int fd = ::open(out.temp().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw io_error("cannot create", path);
  write_sync_close(fd, data, path);
  out.commit();
}

void overwrite_in_place(const fs::path& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) throw io_error("cannot open", path);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0 || data.size() > static_cast<std::size_t>(size) || ::lseek(fd, 0, SEEK_SET) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot overwrite " + path.string() + " in place: " + std::to_string(data.size()) +
                             " bytes do not fit in its " + std::to_string(size));
  }
  std::string padded(data);
  padded.resize(static_cast<std::size_t>(size), ' ');
  write_sync_close(fd, padded, path);
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

fs::path destination_of(const fs::path& path) {
  const std::string name = path.filename().string();
  const std::size_t marker = name.find(kTempMarker);
  if (marker == std::string::npos) return path;
  // After the marker: <pid>@<host>.<hex><extension>, the host and the hex without dots.
  const std::size_t dot = name.find('.', name.find('@', marker + kTempMarker.size()));
  const std::size_t extension = dot == std::string::npos ? std::string::npos : name.find('.', dot + 1);
  return path.parent_path() / (name.substr(0, marker) + (extension == std::string::npos ? "" : name.substr(extension)));
}

std::size_t remove_stale_temps(const fs::path& dir) {
  return remove_stale_temps_with<fs::recursive_directory_iterator>(dir);
}

std::size_t remove_stale_temps_in(const fs::path& dir) { return remove_stale_temps_with<fs::directory_iterator>(dir); }

}  // namespace psmflow
