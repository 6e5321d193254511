// 68-point facial landmarks (iBUG 300-W layout) from Debian's dlib shape predictor
// (libdlib-data: /usr/share/dlib/shape_predictor_68_face_landmarks.dat), fitted inside a face box,
// with a fit score, and temporal smoothing of the landmarks' jitter.
#pragma once
#include <cstdint>
#include <opencv2/core.hpp>

#include <array>
#include <filesystem>
#include <memory>

namespace psmflow::video {

inline constexpr int kLandmarks = 68;
using LandmarkSet = std::array<cv::Point2f, kLandmarks>;

inline const std::filesystem::path kDlibLandmarkModel = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

struct LandmarkFit {
  LandmarkSet points;  // source pixels
  // 0..1: how face-like the fitted shape is (1 = the model's mean shape after a similarity
  // transform; it falls to 0 as the residual grows to 0.4 of the eye distance).
  float fit = 0;
};

// Loaded once and shared: fitting is const and may run on several threads at a time.
class LandmarkModel {
 public:
  // Throws UsageError naming the file when it is missing or not a dlib shape predictor of 68 points.
  explicit LandmarkModel(const std::filesystem::path& file);
  ~LandmarkModel();
  LandmarkFit fit(const cv::Mat& image, const cv::Rect2f& box) const;  // 8-bit grey or BGR source frame

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// dlib's model was trained on the boxes of dlib's own face detector, which are smaller than
// OpenCV's cascades' (0.86 of their width on Megamind) and sit lower on the face (by 0.065 of it):
// a cascade's box moved onto that convention, the box to fit the landmarks in.
cv::Rect2f dlib_box_from_cascade(const cv::Rect2f& box);

// One BGR pixel's grey level exactly as cv::cvtColor(COLOR_BGR2GRAY) gives it (OpenCV 4.6's
// 15-bit fixed point), for the pixels the predictor samples outside the region it converts.
inline std::uint8_t opencv_grey(const std::uint8_t* bgr) {
  return std::uint8_t((3735 * bgr[0] + 19235 * bgr[1] + 9798 * bgr[2] + 16384) >> 15);
}

// The model of `file` (empty = kDlibLandmarkModel), loaded on the first call for that file (about
// a second: 100 MB) and shared by all later callers and threads.
std::shared_ptr<const LandmarkModel> shared_landmark_model(const std::filesystem::path& file);

// The eye centres (means of points 36-41 and 42-47: image-left, image-right) and the mouth centre
// (mean of the outer lip, 48-59).
cv::Point2f left_eye(const LandmarkSet& p);
cv::Point2f right_eye(const LandmarkSet& p);
cv::Point2f mouth(const LandmarkSet& p);

// Smooths landmark jitter on a still face without lagging real movement: a One Euro filter
// (Casiez, Roussel and Vogel, CHI 2012) on each point, a low-pass whose cut-off frequency rises
// with the point's speed (measured in eye distances per second, so one setting suits every face
// size): a still point is filtered hard, a moving one follows with little lag.
class LandmarkSmoother {
 public:
  // The smoothed points of this frame, `dt_s` seconds after the previous one (the first frame,
  // and any frame without a positive gap, starts afresh).
  LandmarkSet push(const LandmarkSet& raw, double dt_s);
  void reset() { have_ = false; }

 private:
  LandmarkSet last_{};
  LandmarkSet speed_{};  // each point's low-passed speed, eye distances per second
  bool have_ = false;
};

}  // namespace psmflow::video
