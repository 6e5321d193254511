#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/videoio.hpp>
#include <sstream>

#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/video/synth.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::synth;
using psmflow::test::ScratchDir;

namespace {

SynthOptions small_cohort(const fs::path& out, int subjects, int frames, std::uint64_t seed = 1) {
  SynthOptions o;
  o.out = out;
  o.subjects = subjects;
  o.frames = frames;
  o.seed = seed;
  return o;
}

std::string decoded_hash(const fs::path& video, int* count = nullptr, cv::Size* size = nullptr) {
  cv::VideoCapture cap(video.string());
  Sha256 h;
  cv::Mat f;
  int n = 0;
  while (cap.read(f)) {
    h.update(std::string_view(reinterpret_cast<const char*>(f.data), f.total() * f.elemSize()));
    if (size) *size = f.size();
    ++n;
  }
  if (count) *count = n;
  return h.hex();
}

struct TruthRow {
  cv::Rect2f box;
  bool in_frame, occluded;
};
std::vector<TruthRow> read_truth(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<TruthRow> rows;
  while (std::getline(in, line)) {
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream s(line);
    int frame, in_frame, occluded;
    float x, y, w, h;
    s >> frame >> x >> y >> w >> h >> in_frame >> occluded;
    rows.push_back({{x, y, w, h}, in_frame == 1, occluded == 1});
  }
  return rows;
}

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b, const cv::Rect& roi = {}) {
  cv::Mat d;
  cv::absdiff(roi.area() ? a(roi) : a, roi.area() ? b(roi) : b, d);
  return cv::mean(d)[0] + cv::mean(d)[1] + cv::mean(d)[2];
}

double sum_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  cv::Scalar s = cv::sum(d);
  return s[0] + s[1] + s[2];
}

}  // namespace

TEST(Synth, SameSeedSameCohortOtherSeedOtherCohort) {
  ScratchDir dir;
  synthesize_cohort(small_cohort(dir / "a", 2, 40));
  synthesize_cohort(small_cohort(dir / "b", 2, 40));
  synthesize_cohort(small_cohort(dir / "c", 2, 40, 2));
  for (const char* id : {"S01", "S02"}) {
    EXPECT_EQ(sha256_path(dir / "a/labels" / id), sha256_path(dir / "b/labels" / id));
    EXPECT_EQ(sha256_file(dir / "a/truth" / (std::string(id) + ".csv")),
              sha256_file(dir / "b/truth" / (std::string(id) + ".csv")));
    std::string video = std::string(id) + ".avi";
    EXPECT_EQ(decoded_hash(dir / "a/videos" / video), decoded_hash(dir / "b/videos" / video));
    EXPECT_NE(decoded_hash(dir / "a/videos" / video), decoded_hash(dir / "c/videos" / video));
  }
}

TEST(Synth, LabelsAreDisfaFormatAndVideosReadBack) {
  ScratchDir dir;
  synthesize_cohort(small_cohort(dir.path(), 1, 30));
  for (int au : kAus) {
    std::ifstream in(dir / "labels/S01" / ("S01_au" + std::to_string(au) + ".txt"));
    ASSERT_TRUE(in) << au;
    std::string line;
    int expected_frame = 1;
    while (std::getline(in, line)) {
      int frame = -1, value = -1;
      char comma = 0;
      std::istringstream(line) >> frame >> comma >> value;
      EXPECT_EQ(frame, expected_frame++) << line;
      EXPECT_EQ(comma, ',');
      EXPECT_TRUE(value >= 0 && value <= 5) << line;
    }
    EXPECT_EQ(expected_frame, 31) << "AU" << au;
  }
  int count = 0;
  cv::Size size;
  decoded_hash(dir / "videos/S01.avi", &count, &size);
  EXPECT_EQ(count, 30);
  EXPECT_EQ(size, cv::Size(320, 240));
  EXPECT_EQ(read_truth(dir / "truth/S01.csv").size(), 30u);
  EXPECT_TRUE(fs::exists(dir / "cohort.json"));
}

// The preprocess stage relies on OpenCV's default Haar cascade finding these faces.
TEST(Synth, HaarCascadeFindsTheFaceInNearlyAllInFrameFrames) {
  ScratchDir dir;
  synthesize_cohort(small_cohort(dir.path(), 3, 200));
  cv::CascadeClassifier haar("/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml");
  ASSERT_FALSE(haar.empty()) << "opencv-data's haarcascade_frontalface_default.xml is missing";
  for (const char* id : {"S01", "S02", "S03"}) {
    auto truth = read_truth(dir / "truth" / (std::string(id) + ".csv"));
    cv::VideoCapture cap((dir / "videos" / (std::string(id) + ".avi")).string());
    cv::Mat frame, gray;
    int visible = 0, found = 0;
    for (std::size_t i = 0; cap.read(frame); ++i) {
      if (i % 2 || !truth[i].in_frame || truth[i].occluded) continue;
      cv::cvtColor(frame, gray, cv::COLOR_BGR2GRAY);
      std::vector<cv::Rect> faces;
      haar.detectMultiScale(gray, faces, 1.1, 3, 0, cv::Size(40, 40));
      ++visible;
      for (const auto& f : faces) {
        cv::Point2f c(f.x + f.width / 2.f, f.y + f.height / 2.f);
        if (truth[i].box.contains(c)) {
          ++found;
          break;
        }
      }
    }
    ASSERT_GT(visible, 50) << id;
    EXPECT_GE(found, 0.95 * visible) << id << ": " << found << " of " << visible;
  }
}

TEST(Synth, EachAuMovesItsOwnRegionMoreWithIntensity) {
  Subject s = make_subject(1, 0);
  AuVector neutral{};
  FaceImage base = render_face(s, neutral);
  for (int au : kAus) {
    AuVector mid = neutral, full = neutral;
    mid[au_index(au)] = 2.5f;
    full[au_index(au)] = 5.f;
    cv::Mat m = render_face(s, mid).bgr, f = render_face(s, full).bgr;
    double total = sum_abs_diff(base.bgr, f);
    ASSERT_GT(total, 0) << "AU" << au << " changes nothing";
    cv::Rect region = au_region(s.identity, au) & cv::Rect(0, 0, base.bgr.cols, base.bgr.rows);
    double inside = sum_abs_diff(base.bgr(region), f(region));
    EXPECT_GT(inside / total, 0.9) << "AU" << au << " moves pixels outside its region";
    EXPECT_GT(sum_abs_diff(base.bgr, f), sum_abs_diff(base.bgr, m)) << "AU" << au << " does not grow";
  }
}

TEST(Synth, IdentityVariesBetweenPeopleAndIdiosyncrasyIsUnlabelled) {
  AuVector neutral{};
  cv::Mat a = render_face(make_subject(1, 0), neutral).bgr, b = render_face(make_subject(1, 1), neutral).bgr;
  EXPECT_GT(mean_abs_diff(a, b), 20.0);
  for (int i = 0; i < 4; ++i) {
    Subject s = make_subject(1, i);
    SubjectPlan plan = plan_subject(s, 600, 20, 1);
    int idio_episodes = 0;
    for (const auto& e : plan.episodes) idio_episodes += e.what == "idiosyncrasy";
    EXPECT_GE(idio_episodes, 1) << s.id;
    EXPECT_GT(sum_abs_diff(render_face(s, neutral, 0, 0).bgr, render_face(s, neutral, 0, 1).bgr), 0) << s.id;
    // The idiosyncratic movement is not an AU: labels come from AU intensities alone.
    SubjectPlan no_idio = plan;
    for (auto& f : no_idio.frames) f.idio = 0;
    EXPECT_EQ(plan_labels(plan), plan_labels(no_idio));
  }
}

// truth/<id>.csv carries the idiosyncrasy per frame (kind and 0..5 intensity, as the plan says);
// the label files stay as they were.
TEST(Synth, TruthFileHoldsTheIdiosyncrasyPerFrame) {
  ScratchDir dir;
  synthesize_cohort(small_cohort(dir.path(), 2, 200));
  for (int i = 0; i < 2; ++i) {
    Subject s = make_subject(1, i);
    std::vector<int> expected = plan_idiosyncrasy(plan_subject(s, 200, 20, 1));
    std::ifstream in(dir / "truth" / (s.id + ".csv"));
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "frame,face_x,face_y,face_w,face_h,in_frame,occluded,idiosyncrasy,idio_intensity,idio_strength");
    std::vector<int> got;
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::stringstream cs(line);
      for (std::string c; std::getline(cs, c, ',');) cells.push_back(c);
      ASSERT_EQ(cells.size(), 10u) << line;
      EXPECT_EQ(cells[7], idiosyncrasy_name(s.idiosyncrasy));
      got.push_back(std::stoi(cells[8]));
      EXPECT_EQ(got.back(), std::clamp(static_cast<int>(std::lround(5 * std::stod(cells[9]))), 0, 5)) << line;
    }
    EXPECT_EQ(got, expected) << s.id;
    EXPECT_GT(std::count_if(got.begin(), got.end(), [](int v) { return v >= 2; }), 10) << s.id;
    EXPECT_GT(std::count(got.begin(), got.end(), 0), 50) << s.id;
  }
}

TEST(Synth, EveryPersonHasActiveAusNeutralFramesAndHardFrames) {
  for (int i = 0; i < 6; ++i) {
    Subject s = make_subject(1, i);
    SubjectPlan plan = plan_subject(s, 600, 20, 1);
    auto labels = plan_labels(plan);
    int active = 0;
    for (const auto& au : labels) active += std::count_if(au.begin(), au.end(), [](int v) { return v >= 2; }) > 12;
    EXPECT_GE(active, 4) << s.id;
    int neutral = 0, hard = 0;
    for (std::size_t f = 0; f < plan.frames.size(); ++f) {
      bool all_zero = true;
      for (const auto& au : labels) all_zero &= au[f] == 0;
      neutral += all_zero;
      hard += plan.frames[f].occluded;
    }
    EXPECT_GT(neutral, 30) << s.id;
    EXPECT_GT(hard, 0) << s.id << ": no occluded frame";
    int events = 0;
    for (const auto& e : plan.episodes) events += e.what == "exit" || e.what == "occlusion";
    EXPECT_GE(events, 1) << s.id;
  }
}

TEST(Synth, BadUsageExitsTwo) {
  ScratchDir dir;
  using psmflow::test::run_psmflow;
  using psmflow::test::shell_quote;
  EXPECT_EQ(run_psmflow("synth --out " + shell_quote((dir / "x").string()) + " --subjects 0").exit_code, 2);
  EXPECT_EQ(run_psmflow("synth --out " + shell_quote((dir / "x").string()) + " --frames 5").exit_code, 2);
  EXPECT_EQ(run_psmflow("synth --out " + shell_quote((dir / "x").string()) + " --size 12").exit_code, 2);
  EXPECT_EQ(run_psmflow("synth --out /proc/psmflow-cannot-write").exit_code, 2);
  EXPECT_EQ(run_psmflow("synth").exit_code, 2);
  auto ok = run_psmflow("synth --out " + shell_quote((dir / "ok").string()) + " --subjects 1 --frames 12");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}
