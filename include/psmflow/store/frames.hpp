// frames.h5 (PRODUCT.md): /frames uint8 [N,H,W,3] RGB, one frame per chunk, deflate-compressed;
// /frame_index int64 [N] (0-based source frame); /time_s float64 [N]; /bbox float32 [N,4]
// (x, y, w, h in source pixels); /detected uint8 [N]; /landmarks float32 [N,68,2] (source pixels)
// and /confidence, /landmark_fit float32 [N] (0..1) when landmarks were fitted; /au/AU<k> int8 [N] (-1 = no label).
// Attributes: subject, sources (JSON list of {path, sha256}), fps, crop_size, psmflow_version,
// config_hash, min_confidence (frames below it are not used for training).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace psmflow {
namespace fs = std::filesystem;

struct SourceFile {
  std::string path;
  std::string sha256;
};

struct FramesMeta {
  std::string subject;
  std::vector<SourceFile> sources;
  double fps = 0;
  int crop_size = 64;
  std::string psmflow_version;
  std::string config_hash;
  double min_confidence = 0;  // absent in files written before landmarks: 0
};

// Writes a new file at `path` (callers pass an AtomicPath::temp() and commit after close()).
class FramesWriter {
 public:
  FramesWriter(const fs::path& path, const FramesMeta& meta);
  ~FramesWriter();
  void append(const std::uint8_t* rgb, std::int64_t frame_index, double time_s,
              const std::array<float, 4>& bbox, bool detected);
  // AU number -> one intensity per appended frame (-1 = unlabeled). Call before close().
  void set_labels(const std::map<int, std::vector<std::int8_t>>& au);
  // 68 (x, y) landmarks, one confidence and one landmark fit per appended frame. Call before close().
  void set_landmarks(std::vector<float> xy, std::vector<float> confidence, std::vector<float> fit);
  void close();
  std::int64_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class FramesReader {
 public:
  explicit FramesReader(const fs::path& path);  // throws std::runtime_error naming the file
  ~FramesReader();
  std::int64_t size() const;
  int crop_size() const;
  const FramesMeta& meta() const;
  // Copies frame i (crop*crop*3 RGB bytes) into out. Thread-compatible, not thread-safe.
  void read(std::int64_t i, std::uint8_t* out) const;
  std::vector<std::uint8_t> read_all() const;  // N*crop*crop*3
  const std::vector<std::int64_t>& frame_index() const;
  const std::vector<double>& time_s() const;
  const std::vector<std::array<float, 4>>& bbox() const;
  const std::vector<std::uint8_t>& detected() const;
  const std::vector<float>& landmarks() const;   // N*68*2, empty when the file has none
  const std::vector<float>& confidence() const;  // N, empty when the file has none
  const std::vector<float>& landmark_fit() const;  // N, empty when the file has none
  // Per frame: detected and (without /confidence, or) confidence >= min_confidence: the frames
  // training uses.
  std::vector<std::uint8_t> usable() const;
  const std::map<int, std::vector<std::int8_t>>& labels() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace psmflow
