#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <algorithm>
#include <array>

#include "pipeline_support.hpp"
#include "psmflow/video/detect.hpp"
#include "psmflow/video/haar.hpp"
#include "real_video.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

const fs::path kFrontalFace = video::kOpenCvData / "haarcascades/haarcascade_frontalface_default.xml";

// A detection and its votes, sortable: the order of OpenCV's results follows its threads.
using Found = std::array<int, 5>;

std::vector<Found> sorted(const std::vector<cv::Rect>& faces, const std::vector<int>& votes) {
  std::vector<Found> out;
  for (std::size_t i = 0; i < faces.size(); ++i)
    out.push_back({faces[i].x, faces[i].y, faces[i].width, faces[i].height, votes[i]});
  std::sort(out.begin(), out.end());
  return out;
}

struct Search {
  double shrink, step;
  int min, max;
  cv::Rect region;  // empty: the whole frame
};

}  // namespace

// The tracker's three searches (every size over the whole frame at 320 px wide; the track's
// sizes over the whole frame; a window around the face), and OpenCV's default step, on real
// frames: every face and every vote must be OpenCV's.
TEST(HaarCascade, FindsOpenCvsFacesWithOpenCvsVotesOnRealVideo) {
  auto haar = video::HaarCascade::load(kFrontalFace);
  ASSERT_TRUE(haar) << "haarcascade_frontalface_default.xml should be evaluated by psmflow";
  cv::CascadeClassifier opencv(kFrontalFace.string());
  const std::vector<Search> searches = {{320.0 / 720, 1.15, 24, 0, {}},
                                        {0.23, 1.2, 39, 112, {}},
                                        {0.23, 1.2, 45, 70, {250, 100, 270, 270}},
                                        {0.3, 1.1, 24, 0, {}}};
  std::vector<cv::Mat> frames = megamind_frames(0, 270);
  int compared = 0, faces = 0;
  cv::Mat gray, small;
  for (std::size_t i = 0; i < frames.size(); i += 15) {
    cv::cvtColor(frames[i], gray, cv::COLOR_BGR2GRAY);
    for (const Search& s : searches) {
      cv::Mat source = s.region.area() ? gray(s.region) : gray;
      cv::resize(source, small, cv::Size(), s.shrink, s.shrink, cv::INTER_AREA);
      std::vector<cv::Rect> a, b;
      std::vector<int> va, vb;
      opencv.detectMultiScale(small, a, va, s.step, 3, 0, cv::Size(s.min, s.min), cv::Size(s.max, s.max));
      haar->detect(small, b, vb, s.step, 3, cv::Size(s.min, s.min), cv::Size(s.max, s.max));
      EXPECT_EQ(sorted(b, vb), sorted(a, va)) << "frame " << i << ", shrink " << s.shrink << ", step " << s.step;
      ++compared;
      faces += int(a.size());
    }
  }
  EXPECT_EQ(compared, 72);
  EXPECT_GE(faces, 50) << "the comparison should be over frames with faces";
}

// Without grouping every window the cascade accepts is a result: the same windows as OpenCV's,
// on an image with flat parts (windows without contrast are not evaluated) and noise.
TEST(HaarCascade, AcceptsOpenCvsWindowsOnFlatAndNoisyImages) {
  auto haar = video::HaarCascade::load(kFrontalFace);
  ASSERT_TRUE(haar);
  cv::CascadeClassifier opencv(kFrontalFace.string());
  cv::Mat image(180, 240, CV_8UC1, cv::Scalar(128));
  cv::RNG rng(7);
  rng.fill(image(cv::Rect(120, 0, 120, 180)), cv::RNG::UNIFORM, 0, 256);
  cv::Mat face;
  cv::cvtColor(megamind_frames(100, 1)[0](cv::Rect(230, 60, 300, 300)), face, cv::COLOR_BGR2GRAY);
  cv::resize(face, image(cv::Rect(10, 40, 100, 100)), cv::Size(100, 100), 0, 0, cv::INTER_AREA);
  std::vector<cv::Rect> a, b;
  std::vector<int> va, vb;
  opencv.detectMultiScale(image, a, va, 1.1, 0, 0, cv::Size(24, 24), cv::Size());
  haar->detect(image, b, vb, 1.1, 0, cv::Size(24, 24), cv::Size());
  EXPECT_GT(a.size(), 10u);
  EXPECT_EQ(sorted(b, vb), sorted(a, va));
}

// LBP cascades and files that are no cascade stay with OpenCV (whose loader names the file).
TEST(HaarCascade, LeavesOtherCascadesToOpenCv) {
  EXPECT_FALSE(video::HaarCascade::load(video::default_cascade("lbp")));
  ScratchDir dir;
  write_text(dir / "junk.xml", "<?xml version=\"1.0\"?><opencv_storage><cascade><stageType>BOOST</stageType>"
                               "</cascade></opencv_storage>");
  EXPECT_FALSE(video::HaarCascade::load(dir / "junk.xml"));
  EXPECT_FALSE(video::HaarCascade::load(dir / "absent.xml"));
  PreprocessSection p;
  p.detector = "lbp";
  EXPECT_EQ(video::make_detector(p)->name(), "lbp");
}
