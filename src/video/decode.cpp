#include "psmflow/video/decode.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "psmflow/core/error.hpp"

namespace psmflow::video {
namespace {

bool keep(std::int64_t index, const FrameRange& r) {
  return index >= r.start && (r.end < 0 || index < r.end) && (index - r.start) % r.stride == 0;
}

// Root reads every file, so readability is checked by opening, not by permission bits.
void check_readable_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw StageError(path.string() + ": no such file or folder");
  if (!fs::is_regular_file(path, ec)) throw StageError(path.string() + ": not a regular file or folder");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StageError(path.string() + ": cannot read: " + std::strerror(errno));
  if (fs::file_size(path, ec) == 0) throw StageError(path.string() + ": empty file (0 bytes)");
}

class VideoSource : public FrameSource {
 public:
  VideoSource(const fs::path& path, const FrameRange& range) : path_(path), range_(range) {
    check_readable_file(path);
    if (!cap_.open(path.string(), cv::CAP_FFMPEG) || !cap_.isOpened())
      throw StageError(path.string() + ": cannot open as a video (OpenCV/FFmpeg does not recognise it)");
    fps_ = cap_.get(cv::CAP_PROP_FPS);
    if (!(fps_ > 0 && fps_ < 1000)) fps_ = 0;
    double n = cap_.get(cv::CAP_PROP_FRAME_COUNT);
    expected_ = n > 0 ? static_cast<std::int64_t>(n) : -1;
  }
  bool next(Frame& out) override {
    while (range_.end < 0 || pos_ < range_.end) {
      bool wanted = keep(pos_, range_);
      bool ok = wanted ? cap_.read(out.bgr) : cap_.grab();
      if (!ok || (wanted && out.bgr.empty())) {
        note_end();
        return false;
      }
      std::int64_t index = pos_++;
      if (!wanted) continue;
      out.index = index;
      out.time_s = fps_ > 0 ? index / fps_ : std::nan("");
      return true;
    }
    return false;
  }
  double fps() const override { return fps_; }
  std::int64_t expected_frames() const override { return expected_; }
  std::string error() const override { return error_; }

 private:
  void note_end() {
    if (pos_ == 0)
      error_ = path_.string() + ": no frame could be decoded (corrupt video?)";
    else if (expected_ > 0 && pos_ < expected_ && (range_.end < 0 || pos_ < range_.end))
      error_ = path_.string() + ": decoding stopped after " + std::to_string(pos_) + " of " +
               std::to_string(expected_) + " frames (truncated or corrupt video)";
  }
  fs::path path_;
  FrameRange range_;
  cv::VideoCapture cap_;
  double fps_ = 0;
  std::int64_t expected_ = -1;
  std::int64_t pos_ = 0;
  std::string error_;
};

bool is_image_name(const fs::path& p) {
  static const std::set<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff",
                                             ".ppm", ".pgm",  ".pbm", ".webp", ".jp2"};
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return exts.count(e) > 0;
}

class FolderSource : public FrameSource {
 public:
  FolderSource(const fs::path& dir, const FrameRange& range, int name_base) : dir_(dir) {
    std::map<std::int64_t, fs::path> by_index;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) throw StageError(dir.string() + ": cannot list folder: " + ec.message());
    for (; it != fs::directory_iterator(); ++it) {
      const fs::path& p = it->path();
      if (p.filename().string().rfind('.', 0) == 0 || it->is_directory()) continue;  // hidden files, subfolders
      if (!is_image_name(p))
        throw StageError(p.string() + ": not a frame image (frame folders hold only .jpg/.png/... images)");
      std::int64_t n = frame_number_in_name(p);
      if (n < 0) throw StageError(p.string() + ": no frame number in the file name");
      if (n < name_base)
        throw StageError(p.string() + ": frame number " + std::to_string(n) + " is below data.label_frame_base = " +
                         std::to_string(name_base));
      auto [at, fresh] = by_index.emplace(n - name_base, p);
      if (!fresh) throw StageError(p.string() + ": same frame number as " + at->second.string());
    }
    if (by_index.empty()) throw StageError(dir.string() + ": folder holds no frame images");
    expected_ = static_cast<std::int64_t>(by_index.size());
    for (const auto& [index, p] : by_index)
      if (keep(index, range)) files_.emplace_back(index, p);
  }
  bool next(Frame& out) override {
    if (pos_ >= files_.size() || !error_.empty()) return false;
    const auto& [index, path] = files_[pos_++];
    out.bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
    if (out.bgr.empty()) {
      std::ifstream in(path, std::ios::binary);
      error_ = path.string() + (in ? ": cannot decode image (corrupt or not an image)" : ": cannot read: " +
                                                                                          std::string(std::strerror(errno)));
      return false;
    }
    out.index = index;
    out.time_s = std::nan("");  // a folder of images carries no timing
    return true;
  }
  double fps() const override { return 0; }
  std::int64_t expected_frames() const override { return expected_; }
  std::string error() const override { return error_; }

 private:
  fs::path dir_;
  std::vector<std::pair<std::int64_t, fs::path>> files_;
  std::size_t pos_ = 0;
  std::int64_t expected_ = 0;
  std::string error_;
};

}  // namespace

std::int64_t frame_number_in_name(const fs::path& file) {
  std::string stem = file.stem().string();
  auto last = std::find_if(stem.rbegin(), stem.rend(), [](unsigned char c) { return std::isdigit(c); });
  if (last == stem.rend()) return -1;
  auto first = std::find_if(last, stem.rend(), [](unsigned char c) { return !std::isdigit(c); });
  std::string digits(first.base(), last.base());
  if (digits.size() > 15) return -1;
  return std::stoll(digits);
}

std::unique_ptr<FrameSource> open_source(const fs::path& path, const FrameRange& range, int name_base) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return std::make_unique<FolderSource>(path, range, name_base);
  return std::make_unique<VideoSource>(path, range);
}

}  // namespace psmflow::video
