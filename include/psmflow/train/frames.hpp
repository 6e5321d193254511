// Frames the trainer reads: uint8 RGB squares addressed by id. A PSM keeps one subject's detected
// frames in memory (a few thousand 64x64 frames are tens of MB); the GM trainer (dist part) may
// provide its own store over many subjects. read() is only called from the loader thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace psmflow::train {

class FrameStore {
 public:
  virtual ~FrameStore() = default;
  virtual std::int64_t size() const = 0;
  virtual int crop_size() const = 0;
  virtual const std::uint8_t* frame(std::int64_t i) const = 0;  // crop*crop*3 bytes, valid while alive
};

class MemoryFrames : public FrameStore {
 public:
  MemoryFrames(int crop, std::vector<std::uint8_t> pixels, std::vector<std::int64_t> frame_index);
  std::int64_t size() const override { return static_cast<std::int64_t>(frame_index_.size()); }
  int crop_size() const override { return crop_; }
  const std::uint8_t* frame(std::int64_t i) const override;
  const std::vector<std::int64_t>& frame_index() const { return frame_index_; }

 private:
  int crop_;
  std::vector<std::uint8_t> pixels_;
  std::vector<std::int64_t> frame_index_;
};

// Reads frames.h5; only_detected keeps frames with detected = 1 (training), else all (embedding).
// Throws StageError naming the file when it cannot be read or holds no usable frame.
MemoryFrames load_frames(const std::filesystem::path& frames_h5, bool only_detected);

}  // namespace psmflow::train
