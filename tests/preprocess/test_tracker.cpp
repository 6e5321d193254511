#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "face_video.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/video/track.hpp"

using namespace psmflow;
using namespace psmflow::video;
using psmflow::test::FacePose;

namespace {

const cv::Size kSize(320, 240);

struct Tracked {
  std::vector<TrackedFrame> frames;
  int calls = 0;
};

Tracked track(const std::vector<FacePose>& poses, int detect_every) {
  PreprocessSection p;
  auto detector = make_detector(p);
  FaceTracker tracker(*detector, {detect_every, 320, true});
  Tracked r;
  for (std::size_t i = 0; i < poses.size(); ++i) {
    Frame f{psmflow::test::draw_face_frame(kSize, poses[i], int(i)), std::int64_t(i), i / 25.0};
    for (auto& t : tracker.push(std::move(f))) r.frames.push_back(std::move(t));
  }
  for (auto& t : tracker.finish()) r.frames.push_back(std::move(t));
  r.calls = tracker.detector_calls();
  return r;
}

float centre_error(const TrackedFrame& t, const FacePose& p) {
  return std::hypot(t.box.x + t.box.width / 2 - p.centre.x, t.box.y + t.box.height / 2 - p.centre.y);
}

}  // namespace

TEST(Tracker, FollowsAMovingFaceWithFewDetectorCalls) {
  std::vector<FacePose> poses;
  for (int i = 0; i < 100; ++i) poses.push_back(psmflow::test::default_path(i, kSize));
  Tracked r = track(poses, 5);
  ASSERT_EQ(r.frames.size(), poses.size());
  int found = 0;
  float worst = 0, sum = 0;
  for (std::size_t i = 0; i < poses.size(); ++i) {
    EXPECT_EQ(r.frames[i].frame.index, std::int64_t(i));  // in order, none dropped
    found += r.frames[i].detected;
    if (r.frames[i].detected) worst = std::max(worst, centre_error(r.frames[i], poses[i]));
    sum += centre_error(r.frames[i], poses[i]);
  }
  EXPECT_GE(found, 98);
  // The face is 96 px wide; the tracker searches it at about 56 px, so a detector pixel is ~2 px here.
  EXPECT_LT(worst, 6.f) << "box centre off the drawn face centre";
  EXPECT_LT(sum / poses.size(), 3.f) << "mean centre error";
  EXPECT_LE(r.calls, 30) << "the detector should run about every 5th frame";
}

TEST(Tracker, HandsOverThroughALostFaceAndMarksTheMissingFrames) {
  std::vector<FacePose> poses;
  for (int i = 0; i < 90; ++i) {
    poses.push_back(psmflow::test::default_path(i, kSize));
    poses.back().visible = i < 32 || i >= 51;
  }
  Tracked r = track(poses, 5);
  ASSERT_EQ(r.frames.size(), poses.size());
  for (std::size_t i = 0; i < poses.size(); ++i) {
    const auto& t = r.frames[i];
    if (!poses[i].visible) {
      EXPECT_FALSE(t.detected) << "frame " << i;
      EXPECT_EQ(t.box, r.frames[31].box) << "a missed frame keeps the last tracked box, frame " << i;
    } else {
      EXPECT_TRUE(t.detected) << "frame " << i;
      EXPECT_LT(centre_error(t, poses[i]), 6.f) << "frame " << i;
    }
  }
  // 18 keyframes, plus the frames searched one by one where the face first appeared, left, and came back.
  EXPECT_LE(r.calls, 18 + 3 * 5);
}

TEST(Tracker, NoFaceAtAllGivesEmptyBoxesNotDetected) {
  std::vector<FacePose> poses(12);
  for (auto& p : poses) p.visible = false;
  Tracked r = track(poses, 5);
  ASSERT_EQ(r.frames.size(), 12u);
  for (const auto& t : r.frames) {
    EXPECT_FALSE(t.detected);
    EXPECT_EQ(t.box.area(), 0.f);
  }
  EXPECT_EQ(r.calls, 3) << "without a face only keyframes (5, 10 and the last) are searched";
}

TEST(EyeFinder, GivesTheRollOfATrackedRolledFace) {
  std::vector<FacePose> poses;
  for (int i = 0; i < 20; ++i) {
    poses.push_back(psmflow::test::default_path(i, kSize));
    poses.back().roll_deg = 12;
  }
  Tracked r = track(poses, 5);
  EyeFinder eyes{fs::path()};
  int close = 0;
  cv::Mat gray;
  for (const auto& t : r.frames) {
    cv::cvtColor(t.frame.bgr, gray, cv::COLOR_BGR2GRAY);
    std::optional<float> roll = t.detected ? eyes.roll_deg(gray, t.box) : std::nullopt;
    close += roll && std::abs(*roll - 12) < 4;
  }
  EXPECT_GE(close, 15);
}

TEST(Tracker, AJumpBetweenKeyframesIsSearchedNotInterpolated) {
  std::vector<FacePose> poses;
  for (int i = 0; i < 30; ++i) {
    poses.push_back(psmflow::test::default_path(0, kSize));
    poses.back().centre.x = i < 12 ? 100.f : 220.f;  // the face jumps between keyframes 9 and 14
  }
  Tracked r = track(poses, 5);
  ASSERT_EQ(r.frames.size(), poses.size());
  for (std::size_t i = 0; i < poses.size(); ++i) {
    EXPECT_TRUE(r.frames[i].detected) << "frame " << i;
    EXPECT_LT(centre_error(r.frames[i], poses[i]), 6.f) << "frame " << i;
  }
}
