// Crop geometry: a square around the face box, `margin` of the box size added on every side,
// rotated so the eyes are level, resized to size x size. Parts outside the frame are black.
// With landmarks, the square and its rotation come from them instead (see face_placement).
#pragma once
#include <opencv2/core.hpp>

#include "psmflow/video/landmarks.hpp"

namespace psmflow::video {

// A face's square (source pixels) and roll: what crop_face() needs.
struct FacePlacement {
  cv::Rect2f box;
  float roll_deg = 0;
};

// The similarity transform (rotation, scale, translation) that puts the eye centres and the
// mouth centre of the landmarks closest (least squares) to fixed places in a face square, as
// OpenFace-style alignment does; expressed as the square and its roll.
FacePlacement face_placement(const LandmarkSet& points);

// Landmark fits below this are off (profile, occlusion, a wrong box): the crop then comes from
// the box and the eye cascade's roll.
inline constexpr float kLandmarkAlignFit = 0.5f;

// Side of the square crop in source pixels.
float crop_side(const cv::Rect2f& box, double margin);
// The 2x3 map from source pixels to crop pixels (rotation by -roll about the box centre).
cv::Matx23d crop_transform(const cv::Rect2f& box, float roll_deg, double margin, int size);
// Writes the size x size RGB crop into out (CV_8UC3). A box of zero area gives a black crop.
void crop_face(const cv::Mat& bgr, const cv::Rect2f& box, float roll_deg, double margin, int size, cv::Mat& out);

}  // namespace psmflow::video
