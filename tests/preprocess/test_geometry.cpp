#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "psmflow/video/align.hpp"

using namespace psmflow::video;

namespace {

// Centre of mass of the bright pixels of an RGB crop.
cv::Point2d bright_centre(const cv::Mat& rgb) {
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  cv::Moments m = cv::moments(gray > 128, true);
  return {m.m10 / m.m00, m.m01 / m.m00};
}

}  // namespace

TEST(CropGeometry, SquareWithMarginCentredOnTheBox) {
  cv::Rect2f box(100, 50, 40, 60);
  EXPECT_FLOAT_EQ(crop_side(box, 0.25), 90.f);  // 60 * (1 + 2 * 0.25)
  cv::Matx23d m = crop_transform(box, 0, 0.25, 64);
  cv::Vec3d c(120, 80, 1);
  cv::Vec2d mapped = m * c;
  EXPECT_NEAR(mapped[0], 32, 1e-9);
  EXPECT_NEAR(mapped[1], 32, 1e-9);
  cv::Vec2d corner = m * cv::Vec3d(120 - 45, 80 - 45, 1);  // top-left of the square
  EXPECT_NEAR(corner[0], 0, 1e-9);
  EXPECT_NEAR(corner[1], 0, 1e-9);
}

TEST(CropGeometry, CropFindsAnOffCentreSpotAtTheCentre) {
  cv::Mat img(480, 640, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::circle(img, {400, 300}, 30, cv::Scalar(255, 255, 255), -1);
  cv::Mat crop;
  crop_face(img, cv::Rect2f(370, 270, 60, 60), 0, 0.25, 64, crop);  // shrinks 90 px to 64: the plain warp path
  ASSERT_EQ(crop.size(), cv::Size(64, 64));
  cv::Point2d c = bright_centre(crop);
  EXPECT_NEAR(c.x, 31.5, 0.6);
  EXPECT_NEAR(c.y, 31.5, 0.6);
  crop_face(img, cv::Rect2f(370, 270, 60, 60), 0, 2.0, 16, crop);  // shrinks 300 px to 16: area pre-shrink path
  c = bright_centre(crop);
  EXPECT_NEAR(c.x, 7.5, 0.6);
  EXPECT_NEAR(c.y, 7.5, 0.6);
}

TEST(CropGeometry, RollIsUndone) {
  // Two "eyes" on a line tilted 20 degrees clockwise (right one lower); after the crop they are level.
  cv::Mat img(400, 400, CV_8UC3, cv::Scalar(0, 0, 0));
  double a = 20 * CV_PI / 180;
  cv::Point2d c(200, 200), d(50 * std::cos(a), 50 * std::sin(a));
  cv::circle(img, cv::Point(c - d), 8, cv::Scalar(255, 255, 255), -1, cv::LINE_AA);
  cv::circle(img, cv::Point(c + d), 8, cv::Scalar(255, 255, 255), -1, cv::LINE_AA);
  cv::Mat crop;
  crop_face(img, cv::Rect2f(150, 150, 100, 100), 20.f, 0.25, 150, crop);
  cv::Mat gray;
  cv::cvtColor(crop, gray, cv::COLOR_RGB2GRAY);
  cv::Moments left = cv::moments(gray(cv::Rect(0, 0, 75, 150)) > 128, true);
  cv::Moments right = cv::moments(gray(cv::Rect(75, 0, 75, 150)) > 128, true);
  EXPECT_NEAR(left.m01 / left.m00, right.m01 / right.m00, 1.0);
  EXPECT_NEAR(left.m01 / left.m00, 75, 1.0);
}

TEST(CropGeometry, OutsideTheFrameIsBlackAndEmptyBoxGivesBlack) {
  cv::Mat img(100, 100, CV_8UC3, cv::Scalar(200, 200, 200));
  cv::Mat crop;
  crop_face(img, cv::Rect2f(80, 80, 40, 40), 0, 0, 40, crop);  // half of the square lies outside
  EXPECT_EQ(crop.at<cv::Vec3b>(5, 5), cv::Vec3b(200, 200, 200));
  EXPECT_EQ(crop.at<cv::Vec3b>(35, 35), cv::Vec3b(0, 0, 0));
  crop_face(img, cv::Rect2f(), 0, 0.25, 32, crop);
  EXPECT_EQ(cv::countNonZero(crop.reshape(1)), 0);
  crop_face(img, cv::Rect2f(500, 500, 40, 40), 0, 0.25, 32, crop);
  EXPECT_EQ(cv::countNonZero(crop.reshape(1)), 0);
}

TEST(CropGeometry, OutputIsRgb) {
  cv::Mat img(100, 100, CV_8UC3, cv::Scalar(255, 0, 0));  // BGR blue
  cv::Mat crop;
  crop_face(img, cv::Rect2f(30, 30, 40, 40), 0, 0.1, 16, crop);
  EXPECT_EQ(crop.at<cv::Vec3b>(8, 8), cv::Vec3b(0, 0, 255));
}
