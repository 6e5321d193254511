#include "synth_draw.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace psmflow::synth {

namespace {

constexpr int kShift = 4;  // 1/16 pixel precision
constexpr float kOne = 1 << kShift;

std::vector<cv::Point> to_fixed(const Poly& p) {
  std::vector<cv::Point> out;
  out.reserve(p.size());
  for (const auto& q : p) out.emplace_back(cvRound(q.x * kOne), cvRound(q.y * kOne));
  return out;
}

}  // namespace

void fill(cv::Mat& img, const Poly& p, const cv::Scalar& colour) {
  if (p.size() < 3) return;
  std::vector<cv::Point> q = to_fixed(p);
  const cv::Point* pts = q.data();
  int n = static_cast<int>(q.size());
  cv::fillPoly(img, &pts, &n, 1, colour, cv::LINE_AA, kShift);
}

void stroke(cv::Mat& img, const Poly& p, const cv::Scalar& colour, int thickness, bool closed) {
  if (p.size() < 2) return;
  std::vector<cv::Point> q = to_fixed(p);
  const cv::Point* pts = q.data();
  int n = static_cast<int>(q.size());
  cv::polylines(img, &pts, &n, 1, closed, colour, thickness, cv::LINE_AA, kShift);
}

Poly ellipse_poly(cv::Point2f centre, cv::Size2f half_axes, float angle_deg, int steps) {
  Poly p;
  p.reserve(steps);
  float c = std::cos(angle_deg * static_cast<float>(CV_PI) / 180), s = std::sin(angle_deg * static_cast<float>(CV_PI) / 180);
  for (int i = 0; i < steps; ++i) {
    float t = 2 * static_cast<float>(CV_PI) * i / steps;
    float x = half_axes.width * std::cos(t), y = half_axes.height * std::sin(t);
    p.emplace_back(centre.x + c * x - s * y, centre.y + s * x + c * y);
  }
  return p;
}

Poly bezier(cv::Point2f p0, cv::Point2f p1, cv::Point2f p2, int steps) {
  Poly p;
  p.reserve(steps + 1);
  for (int i = 0; i <= steps; ++i) {
    float t = static_cast<float>(i) / steps, u = 1 - t;
    p.push_back(u * u * p0 + 2 * u * t * p1 + t * t * p2);
  }
  return p;
}

Poly join(const Poly& a, const Poly& b) {
  Poly p = a;
  p.insert(p.end(), b.begin(), b.end());
  return p;
}

Poly reversed(Poly p) {
  std::reverse(p.begin(), p.end());
  return p;
}

}  // namespace psmflow::synth
