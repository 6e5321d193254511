#include "psmflow/video/align.hpp"

#include <opencv2/imgproc.hpp>

#include <cmath>

namespace psmflow::video {
namespace {

// Where the eye centres and the mouth centre sit in the face square, in units of its side from
// its centre: where OpenCV's Haar box puts them (medians over Megamind's frames), so that a crop
// from landmarks and one from the box frame the face alike.
const cv::Point2f kTemplate[3] = {{-0.19f, -0.065f}, {0.19f, -0.065f}, {0.f, 0.265f}};

}  // namespace

FacePlacement face_placement(const LandmarkSet& points) {
  const cv::Point2f src[3] = {left_eye(points), right_eye(points), mouth(points)};
  cv::Point2f mt(0, 0), ms(0, 0);
  for (int i = 0; i < 3; ++i) {
    mt += kTemplate[i] / 3.f;
    ms += src[i] / 3.f;
  }
  // Least squares: src - ms = [a -b; b a] (template - mt).
  double a = 0, b = 0, norm = 0;
  for (int i = 0; i < 3; ++i) {
    cv::Point2f t = kTemplate[i] - mt, q = src[i] - ms;
    a += t.x * q.x + t.y * q.y;
    b += t.x * q.y - t.y * q.x;
    norm += t.x * t.x + t.y * t.y;
  }
  a /= norm;
  b /= norm;
  const float side = float(std::hypot(a, b));
  // The square's centre is the template origin mapped into the source.
  cv::Point2f c(ms.x - float(a * mt.x - b * mt.y), ms.y - float(b * mt.x + a * mt.y));
  return {cv::Rect2f(c.x - side / 2, c.y - side / 2, side, side), float(std::atan2(b, a) * 180 / CV_PI)};
}

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
  cv::Point2f c(box.x + box.width / 2, box.y + box.height / 2);
  double rad = roll_deg * CV_PI / 180;
  float reach = side / 2 * float(std::abs(std::cos(rad)) + std::abs(std::sin(rad))) + 2;
  cv::Rect region = cv::Rect(cv::Point(int(std::floor(c.x - reach)), int(std::floor(c.y - reach))),
                             cv::Point(int(std::ceil(c.x + reach)), int(std::ceil(c.y + reach)))) &
                    cv::Rect(0, 0, bgr.cols, bgr.rows);
  double k = size / static_cast<double>(side);
  // Bilinear warping aliases when it shrinks a lot, so the region is first halved until the warp
  // shrinks by less than 2; bilinear halving averages each 2x2 block exactly and is several times
  // faster than INTER_AREA.
  int levels = 0;
  while (k * (1 << levels) < 0.5 && levels < 8) ++levels;
  const int unit = 1 << levels;
  region.width -= region.width % unit;
  region.height -= region.height % unit;
  if (region.area() == 0) {
    out.setTo(0);
    return;
  }
  cv::Mat src = bgr(region);
  for (int i = 0; i < levels; ++i) cv::resize(src, src, cv::Size(src.cols / 2, src.rows / 2), 0, 0, cv::INTER_LINEAR);
  // Pixel centres: source x lands on (x + 0.5) / unit - 0.5 in the halved image.
  const float pre = 1.f / unit, shift = 0.5f * pre - 0.5f;
  cv::Rect2f local((box.x - region.x) * pre + shift, (box.y - region.y) * pre + shift, box.width * pre,
                   box.height * pre);
  cv::Mat rgb;
  cv::Matx23d m = crop_transform(local, roll_deg, margin, size);
  cv::warpAffine(src, rgb, m, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  cv::cvtColor(rgb, out, cv::COLOR_BGR2RGB);
}

}  // namespace psmflow::video
