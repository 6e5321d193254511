// Clips made from OpenCV's Megamind sample (Debian opencv-doc), the one real face video at hand,
// and the reference the tracker is held to: OpenCV's Haar cascade on every full frame.
#pragma once
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/videoio.hpp>

#include <filesystem>
#include <stdexcept>
#include <vector>

namespace psmflow::test {

inline const std::filesystem::path kMegamind = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";

inline std::vector<cv::Mat> megamind_frames(int first, int count) {
  cv::VideoCapture cap(kMegamind.string());
  if (!cap.isOpened()) throw std::runtime_error(kMegamind.string() + ": cannot open it (apt-get install opencv-doc)");
  std::vector<cv::Mat> out;
  cv::Mat f;
  for (int i = 0; cap.read(f) && int(out.size()) < count; ++i)
    if (i >= first) out.push_back(f.clone());
  return out;
}

inline void write_clip(const std::filesystem::path& file, const std::vector<cv::Mat>& frames) {
  cv::VideoWriter out(file.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, frames.at(0).size());
  for (const auto& f : frames) out.write(f);
}

// `count` frames from `first`, each scaled about the image centre by `zoom` (black outside).
inline cv::Mat zoomed(const cv::Mat& f, double zoom) {
  cv::Mat m = (cv::Mat_<double>(2, 3) << zoom, 0, f.cols / 2.0 * (1 - zoom), 0, zoom, f.rows / 2.0 * (1 - zoom));
  cv::Mat out;
  cv::warpAffine(f, out, m, f.size());
  return out;
}

inline void write_megamind_clip(const std::filesystem::path& file, int first, int count, double zoom) {
  std::vector<cv::Mat> frames = megamind_frames(first, count);
  for (auto& f : frames) f = zoomed(f, zoom);
  write_clip(file, frames);
}

// Faces OpenCV's stock Haar cascade finds on the full frame (scale step 1.1, 4 neighbours, >= 24 px).
inline std::vector<std::vector<cv::Rect2f>> full_frame_faces(const std::vector<cv::Mat>& frames) {
  cv::CascadeClassifier c("/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml");
  std::vector<std::vector<cv::Rect2f>> out;
  cv::Mat gray;
  for (const auto& f : frames) {
    cv::cvtColor(f, gray, cv::COLOR_BGR2GRAY);
    std::vector<cv::Rect> faces;
    c.detectMultiScale(gray, faces, 1.1, 4, 0, cv::Size(24, 24));
    out.emplace_back(faces.begin(), faces.end());
  }
  return out;
}

inline float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  return inter > 0 ? inter / (a.area() + b.area() - inter) : 0.f;
}

}  // namespace psmflow::test
