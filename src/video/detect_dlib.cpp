#include "detect_dlib.hpp"

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

namespace psmflow::video {
namespace {

// The HOG detector's window: it finds faces of about 80 pixels and larger (its pyramid only shrinks).
constexpr float kHogFace = 80;

class DlibDetector : public FaceDetector {
 public:
  DlibDetector() : hog_(dlib::get_frontal_face_detector()) {}
  std::vector<Detection> detect(const cv::Mat& bgr, float min_size, float max_size, double) override {
    // The image is scaled so that the smallest face wanted fills the detector's window.
    const double k = kHogFace / std::max(1.f, min_size);
    cv::cvtColor(bgr, gray_, cv::COLOR_BGR2GRAY);
    if (std::abs(k - 1) > 0.01) cv::resize(gray_, gray_, cv::Size(), k, k, k < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    std::vector<Detection> out;
    if (gray_.cols < kHogFace || gray_.rows < kHogFace) return out;
    std::vector<dlib::rect_detection> found;
    hog_(dlib::cv_image<unsigned char>(gray_), found);
    for (const auto& d : found) {
      const auto& r = d.rect;
      cv::Rect2f box(float(r.left() / k), float(r.top() / k), float(r.width() / k), float(r.height() / k));
      if (max_size > 0 && box.width > max_size) continue;
      // The HOG detector's margin: 0 at its threshold (0.5 here), 1 and more for clear faces.
      out.push_back({box, float(1 / (1 + std::exp(-2 * d.detection_confidence))), std::nullopt});
    }
    return out;
  }
  std::string name() const override { return "dlib"; }

 private:
  dlib::frontal_face_detector hog_;
  cv::Mat gray_;
};

}  // namespace

std::unique_ptr<FaceDetector> make_dlib_detector() { return std::make_unique<DlibDetector>(); }

}  // namespace psmflow::video
