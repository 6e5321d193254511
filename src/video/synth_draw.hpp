// Sub-pixel drawing helpers for the synthetic face: polygons in float canvas coordinates drawn
// with OpenCV's anti-aliased fixed-point fill, so features move smoothly with intensity.
#pragma once
#include <opencv2/core.hpp>

#include <vector>

namespace psmflow::synth {

using Poly = std::vector<cv::Point2f>;

void fill(cv::Mat& img, const Poly& p, const cv::Scalar& colour);
void stroke(cv::Mat& img, const Poly& p, const cv::Scalar& colour, int thickness, bool closed = false);
Poly ellipse_poly(cv::Point2f centre, cv::Size2f half_axes, float angle_deg = 0, int steps = 32);
Poly bezier(cv::Point2f p0, cv::Point2f p1, cv::Point2f p2, int steps = 12);  // quadratic
Poly join(const Poly& a, const Poly& b);  // a then b, for outlines made of two edges
Poly reversed(Poly p);

}  // namespace psmflow::synth
