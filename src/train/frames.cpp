#include "psmflow/train/frames.hpp"

#include <cstring>

#include "psmflow/core/error.hpp"
#include "psmflow/store/frames.hpp"

namespace psmflow::train {

MemoryFrames::MemoryFrames(int crop, std::vector<std::uint8_t> pixels, std::vector<std::int64_t> frame_index)
    : crop_(crop), pixels_(std::move(pixels)), frame_index_(std::move(frame_index)) {
  if (pixels_.size() != frame_index_.size() * crop_ * crop_ * 3)
    throw std::invalid_argument("MemoryFrames: pixel buffer does not hold the given frames");
}

const std::uint8_t* MemoryFrames::frame(std::int64_t i) const {
  return pixels_.data() + static_cast<std::size_t>(i) * crop_ * crop_ * 3;
}

MemoryFrames load_frames(const std::filesystem::path& frames_h5, bool only_detected) {
  if (!std::filesystem::exists(frames_h5))
    throw StageError(frames_h5.string() + ": no frames.h5 (run psmflow preprocess first)");
  FramesReader reader(frames_h5);
  const int crop = reader.crop_size();
  const std::size_t frame_bytes = std::size_t(crop) * crop * 3;
  std::vector<std::uint8_t> all = reader.read_all();
  const std::vector<std::uint8_t> detected = reader.usable();  // found, and confident enough
  std::vector<std::uint8_t> kept;
  std::vector<std::int64_t> index;
  for (std::int64_t i = 0; i < reader.size(); ++i) {
    if (only_detected && !detected.at(i)) continue;
    kept.insert(kept.end(), all.begin() + i * frame_bytes, all.begin() + (i + 1) * frame_bytes);
    index.push_back(reader.frame_index().at(i));
  }
  if (index.empty())
    throw StageError(frames_h5.string() + ": no " + (only_detected ? "detected " : "") + "frames to use");
  return MemoryFrames(crop, std::move(kept), std::move(index));
}

}  // namespace psmflow::train
