// Crop geometry: a square around the face box, `margin` of the box size added on every side,
// rotated so the eyes are level, resized to size x size. Parts outside the frame are black.
#pragma once
#include <opencv2/core.hpp>

namespace psmflow::video {

// Side of the square crop in source pixels.
float crop_side(const cv::Rect2f& box, double margin);
// The 2x3 map from source pixels to crop pixels (rotation by -roll about the box centre).
cv::Matx23d crop_transform(const cv::Rect2f& box, float roll_deg, double margin, int size);
// Writes the size x size RGB crop into out (CV_8UC3). A box of zero area gives a black crop.
void crop_face(const cv::Mat& bgr, const cv::Rect2f& box, float roll_deg, double margin, int size, cv::Mat& out);

}  // namespace psmflow::video
