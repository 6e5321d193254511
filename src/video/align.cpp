#include "psmflow/video/align.hpp"

#include <opencv2/imgproc.hpp>

#include <cmath>

namespace psmflow::video {

float crop_side(const cv::Rect2f& box, double margin) {
  return static_cast<float>(std::max(box.width, box.height) * (1 + 2 * margin));
}

cv::Matx23d crop_transform(const cv::Rect2f& box, float roll_deg, double margin, int size) {
  cv::Point2f c(box.x + box.width / 2, box.y + box.height / 2);
  double k = size / static_cast<double>(crop_side(box, margin));
  cv::Mat m = cv::getRotationMatrix2D(c, roll_deg, k);  // counter-clockwise by roll undoes a clockwise tilt
  m.at<double>(0, 2) += size / 2.0 - c.x;
  m.at<double>(1, 2) += size / 2.0 - c.y;
  return cv::Matx23d(m);
}

void crop_face(const cv::Mat& bgr, const cv::Rect2f& box, float roll_deg, double margin, int size, cv::Mat& out) {
  out.create(size, size, CV_8UC3);
  float side = crop_side(box, margin);
  if (!(side > 1)) {
    out.setTo(0);
    return;
  }
  // Bilinear warping aliases when shrinking a lot, so the region is first shrunk with area
  // averaging to twice the crop size and warped from there.
  cv::Point2f c(box.x + box.width / 2, box.y + box.height / 2);
  double rad = roll_deg * CV_PI / 180;
  float reach = side / 2 * float(std::abs(std::cos(rad)) + std::abs(std::sin(rad))) + 2;
  cv::Rect region = cv::Rect(cv::Point(int(std::floor(c.x - reach)), int(std::floor(c.y - reach))),
                             cv::Point(int(std::ceil(c.x + reach)), int(std::ceil(c.y + reach)))) &
                    cv::Rect(0, 0, bgr.cols, bgr.rows);
  cv::Mat rgb;
  if (region.area() == 0) {
    out.setTo(0);
    return;
  }
  double k = size / static_cast<double>(side);
  cv::Mat src = bgr(region);
  double pre = 1;
  if (k < 0.5) {
    pre = 2 * k;
    cv::resize(src, src, cv::Size(), pre, pre, cv::INTER_AREA);
  }
  cv::Rect2f local((box.x - region.x) * float(pre), (box.y - region.y) * float(pre), box.width * float(pre),
                   box.height * float(pre));
  cv::Matx23d m = crop_transform(local, roll_deg, margin, size);
  cv::warpAffine(src, rgb, m, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  cv::cvtColor(rgb, out, cv::COLOR_BGR2RGB);
}

}  // namespace psmflow::video
