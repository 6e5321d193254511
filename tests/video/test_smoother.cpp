#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "psmflow/video/landmarks.hpp"

using namespace psmflow;
using video::LandmarkSet;

namespace {

constexpr double kFrame = 1 / 30.0;

// A face-sized set of points whose eye centres (36-41, 42-47) are 60 px apart.
LandmarkSet face_at(cv::Point2f centre) {
  LandmarkSet p;
  for (int i = 0; i < video::kLandmarks; ++i)
    p[i] = centre + cv::Point2f(float(std::cos(i * 0.7) * 50), float(std::sin(i * 1.3) * 60));
  for (int i = 36; i < 42; ++i) p[i] = centre + cv::Point2f(-30 + float(i - 38), -20);
  for (int i = 42; i < 48; ++i) p[i] = centre + cv::Point2f(30 + float(i - 44), -20);
  return p;
}

double mean_distance(const LandmarkSet& a, const LandmarkSet& b) {
  double s = 0;
  for (int i = 0; i < video::kLandmarks; ++i) s += cv::norm(a[i] - b[i]);
  return s / video::kLandmarks;
}

}  // namespace

// A still face with noise on its points (1.5 px, independent from frame to frame): the smoothed
// points move less than half as much as the raw ones (0.39 of it; the smoother before the One Euro
// filter left 0.74), and stay on the face.
TEST(LandmarkSmoother, StillFaceJitterIsFilteredHard) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0, 1.5f);
  const LandmarkSet truth = face_at({200, 200});
  video::LandmarkSmoother smoother;
  LandmarkSet last_raw{}, last_smooth{};
  double raw_motion = 0, smooth_motion = 0, off = 0;
  for (int t = 0; t < 150; ++t) {
    LandmarkSet raw = truth;
    for (auto& q : raw) q += cv::Point2f(noise(rng), noise(rng));
    LandmarkSet smooth = smoother.push(raw, kFrame);
    if (t >= 30) {
      raw_motion += mean_distance(raw, last_raw);
      smooth_motion += mean_distance(smooth, last_smooth);
      off = std::max(off, mean_distance(smooth, truth));
    }
    last_raw = raw;
    last_smooth = smooth;
  }
  EXPECT_LT(smooth_motion, 0.5 * raw_motion) << smooth_motion / 120 << " vs " << raw_motion / 120 << " px per frame";
  EXPECT_LT(off, 1.5) << "smoothed points wandered off the still face";
}

// A head moving 6 px per frame (3 eye distances per second) is followed less than a pixel behind
// (a fixed 1 Hz low-pass would trail it by 29 px), and once it stops the points settle there.
TEST(LandmarkSmoother, MovingHeadIsFollowedWithoutLagAndSettles) {
  video::LandmarkSmoother smoother;
  LandmarkSet raw{}, smooth{};
  for (int t = 0; t < 40; ++t) {
    raw = face_at({100.f + 6 * t, 200});
    smooth = smoother.push(raw, kFrame);
    if (t >= 10) {
      EXPECT_LT(mean_distance(smooth, raw), 1.0) << "frame " << t;
    }
  }
  for (int t = 0; t < 15; ++t) smooth = smoother.push(raw, kFrame);
  EXPECT_LT(mean_distance(smooth, raw), 0.5) << "still behind 15 frames after the head stopped";
}

// A frame without a positive gap since the last (a restart, broken times) starts afresh: its
// points are the raw ones, not pulled towards an old place.
TEST(LandmarkSmoother, NoPositiveGapStartsAfresh) {
  video::LandmarkSmoother smoother;
  smoother.push(face_at({100, 100}), kFrame);
  smoother.push(face_at({100, 100}), kFrame);
  const LandmarkSet moved = face_at({140, 100});
  EXPECT_EQ(mean_distance(smoother.push(moved, 0), moved), 0);
  EXPECT_EQ(mean_distance(smoother.push(face_at({300, 100}), std::nan("")), face_at({300, 100})), 0);
  smoother.reset();
  EXPECT_EQ(mean_distance(smoother.push(moved, kFrame), moved), 0);
}
