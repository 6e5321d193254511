// psmflow's INTER_AREA shrink (video/shrink.hpp) must give cv::resize's values exactly: the
// tracker's searches, and so its boxes, rest on them.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "psmflow/video/shrink.hpp"
#include "real_video.hpp"

using namespace psmflow;

namespace {

void expect_opencvs(const cv::Mat& src, double f) {
  cv::Mat want, got;
  cv::resize(src, want, cv::Size(), f, f, cv::INTER_AREA);
  video::shrink_area(src, got, f);
  ASSERT_EQ(got.size(), want.size()) << src.size() << " by " << f;
  ASSERT_EQ(got.type(), want.type());
  EXPECT_EQ(cv::countNonZero(got != want), 0) << src.size() << " by " << f;
}

}  // namespace

// Noise has every grey level next to every other, so each weight and rounding shows.
TEST(ShrinkArea, GivesOpenCvsValuesOnNoiseAtEveryKindOfFactor) {
  cv::RNG rng(3);
  for (cv::Size size : {cv::Size(720, 528), cv::Size(333, 197), cv::Size(31, 29)}) {
    cv::Mat noise(size, CV_8UC1);
    rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
    // Factors of the tracker (56 px faces, 320 px wide frames), ones near whole ratios, whole ratios
    // (OpenCV's own fast path) and a sliver of a cell at the edge.
    for (double f : {0.444, 0.3, 0.2857, 0.25, 0.2, 1 / 3.0, 0.5001, 0.4999, 0.71, 0.93, 0.07, 1.0})
      expect_opencvs(noise, f);
  }
}

TEST(ShrinkArea, GivesOpenCvsValuesOnRealFramesAndTheirRegions) {
  std::vector<cv::Mat> frames = test::megamind_frames(0, 270);
  cv::Mat gray;
  for (std::size_t i = 0; i < frames.size(); i += 27) {
    cv::cvtColor(frames[i], gray, cv::COLOR_BGR2GRAY);
    expect_opencvs(gray, 320.0 / gray.cols);
    expect_opencvs(gray(cv::Rect(101, 37, 413, 389)), 56.0 / 211);  // a region, with its row stride
  }
}

TEST(ShrinkArea, LeavesOtherImagesToOpenCv) {
  cv::Mat bgr(100, 120, CV_8UC3, cv::Scalar(10, 200, 30)), want, got;
  cv::resize(bgr, want, cv::Size(), 0.3, 0.3, cv::INTER_AREA);
  video::shrink_area(bgr, got, 0.3);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0);
}
