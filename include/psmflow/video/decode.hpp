// Frame sources: a video file (anything OpenCV's FFmpeg backend reads) or a folder of frame
// images sorted by the number in their names (frame2.jpg before frame10.jpg). Both honour a
// frame range and stride and report why decoding stopped early.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace psmflow::video {
namespace fs = std::filesystem;

struct Frame {
  cv::Mat bgr;               // full-resolution BGR image
  std::int64_t index = 0;    // 0-based frame number in the source
  double time_s = 0;
};

struct FrameRange {
  std::int64_t start = 0;
  std::int64_t end = -1;  // one past the last frame; -1 = to the end
  int stride = 1;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Next kept frame; false at the end (or when decoding broke: see error()).
  virtual bool next(Frame& out) = 0;
  virtual double fps() const = 0;
  // Frames the source claims to have (container header / files in the folder); -1 if unknown.
  virtual std::int64_t expected_frames() const = 0;
  // Empty after a clean end; otherwise why decoding stopped early, naming the file.
  virtual std::string error() const = 0;
};

// Throws StageError naming the path when it cannot be opened at all (missing, empty, unreadable,
// not a video, a folder without frame images or with files that are not frame images).
// In a folder, frame<N>.jpg is source frame N - name_base (names use the labels' numbering,
// [data] label_frame_base); a number below name_base is an error naming the file.
std::unique_ptr<FrameSource> open_source(const fs::path& path, const FrameRange& range, int name_base = 0);

// Frame number in a frame file's name: the last run of digits in its stem ("frame0012" -> 12).
// -1 when there is none.
std::int64_t frame_number_in_name(const fs::path& file);

}  // namespace psmflow::video
