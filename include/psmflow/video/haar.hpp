// OpenCV's Haar cascades (stump-based, upright features, as haarcascade_frontalface_default.xml)
// evaluated as CascadeClassifier::detectMultiScale evaluates them: the same scales, shrunk images,
// integral images, windows (and the window skipped after one its first stage rejects), the same
// float and double arithmetic in the same order, and OpenCV's own grouping, so the faces and their
// votes are OpenCV's. What differs is the loop: 8 neighbouring windows of a row (a lane each, in
// AVX2's registers where the CPU has them) go through the stages together until every one of
// them is rejected, where OpenCV takes one window at a time through every feature's reads.
#pragma once
#include <opencv2/core.hpp>

#include <filesystem>
#include <memory>
#include <vector>

namespace psmflow::video {

class HaarCascade {
 public:
  // nullptr when the file is a cascade this does not evaluate (LBP, trees deeper than a stump,
  // tilted features, the old format): those stay with OpenCV. Throws cv::Exception on unreadable XML.
  static std::unique_ptr<HaarCascade> load(const std::filesystem::path& file);
  ~HaarCascade();

  // As CascadeClassifier::detectMultiScale(gray, faces, votes, scale_step, min_neighbours, 0,
  // min_size, max_size) on an 8-bit grey image. Safe to call from several threads at once.
  void detect(const cv::Mat& gray, std::vector<cv::Rect>& faces, std::vector<int>& votes, double scale_step,
              int min_neighbours, cv::Size min_size, cv::Size max_size) const;

  struct Impl;

 private:
  explicit HaarCascade(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace psmflow::video
