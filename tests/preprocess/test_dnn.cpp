// `[preprocess] detector = "dnn"`: OpenCV 4.6's FaceDetectorYN end to end. No YuNet model ships
// with Debian and the machine is offline, so yunet_oracle.py (Debian's python3-torch) writes a
// model that OpenCV loads and runs exactly like YuNet (same input, outputs, priors and decoding)
// but that "detects" only a bright green block, with eye landmarks on a line tilted by kRoll.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>

#include "pipeline_support.hpp"
#include "psmflow/store/frames.hpp"
#include "psmflow/video/align.hpp"
#include "psmflow/video/detect.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

constexpr float kRoll = 20;  // degrees; the image-right eye is lower
constexpr int kFaceFrames = 40, kFrames = 48;
const cv::Size kSize(320, 240);
const cv::Scalar kGreen(0, 255, 0), kCyan(255, 255, 0), kYellow(0, 255, 255);  // BGR

// The face of frame i (pixels, like cv::Rect): an 80x96 block drifting right and down.
cv::Rect face_at(int i) { return {60 + 2 * i, 50 + i, 80, 96}; }

// Where the oracle puts the eyes (yunet_oracle.py): 0.22 box widths either side of the centre,
// 0.12 above it, the line tilted by kRoll; coordinates continuous (pixel i spans [i, i+1)).
std::pair<cv::Point2f, cv::Point2f> eyes_of(const cv::Rect& f) {
  float cx = f.x + f.width / 2.f, cy = f.y + f.height / 2.f - 0.12f * f.width;
  float dx = 0.22f * f.width, dy = dx * std::tan(kRoll * float(CV_PI) / 180);
  return {{cx - dx, cy - dy}, {cx + dx, cy + dy}};
}

void disc(cv::Mat& img, cv::Point2f c, float r, const cv::Scalar& colour) {
  constexpr int kShift = 4;  // sub-pixel centres; -0.5 turns continuous into pixel-centre coordinates
  cv::circle(img, cv::Point(cvRound((c.x - 0.5f) * 16), cvRound((c.y - 0.5f) * 16)), cvRound(r * 16), colour, -1,
             cv::LINE_AA, kShift);
}

// Green face with a cyan image-left eye and a yellow image-right eye (all green enough for the
// oracle's mask); the last frames show only the background.
void write_video(const fs::path& file) {
  cv::VideoWriter out(file.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, kSize);
  ASSERT_TRUE(out.isOpened()) << file;
  for (int i = 0; i < kFrames; ++i) {
    cv::Mat img(kSize, CV_8UC3, cv::Scalar(80, 90, 100));
    cv::rectangle(img, {0, 200, 320, 40}, cv::Scalar(60, 100, 60), -1);  // a floor, darker than the mask's cut
    if (i < kFaceFrames) {
      cv::Rect f = face_at(i);
      cv::rectangle(img, f, kGreen, -1);
      auto [l, r] = eyes_of(f);
      disc(img, l, 6, kCyan);
      disc(img, r, 6, kYellow);
    }
    out.write(img);
  }
}

bool have_torch() { return run_shell("/usr/bin/python3 -c 'import torch' 2>/dev/null").exit_code == 0; }

// Writes oracle.onnx, not_yunet.onnx and wrong_layout.onnx into dir (see yunet_oracle.py).
void write_models(const fs::path& dir) {
  auto r = run_shell("/usr/bin/python3 " + shell_quote((fs::path(PSMFLOW_SOURCE_DIR) / "tests/preprocess/yunet_oracle.py").string()) +
                     " " + std::to_string(kRoll) + " " + shell_quote(dir.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

fs::path dnn_config(const fs::path& dir, const std::string& model, bool align_eyes = true) {
  write_text(dir / "cfg.toml", std::string("[run]\nrun_dir = \"") + (align_eyes ? "run" : "run-upright") + "\"\n"
                               "[preprocess]\ndetector = \"dnn\"\ndnn_model = \"" + model + "\"\n" +
                               "align_eyes = " + (align_eyes ? "true" : "false") + "\n"
                               "[[data.subject]]\nid = \"S\"\ninput = \"S.avi\"\n");
  return dir / "cfg.toml";
}

// Centroid of the crop's pixels of one colour (RGB), or (-1, -1) when there are none.
cv::Point2d centroid(const cv::Mat& rgb, const cv::Scalar& lo, const cv::Scalar& hi) {
  cv::Mat mask;
  cv::inRange(rgb, lo, hi, mask);
  cv::Moments m = cv::moments(mask, true);
  if (m.m00 < 3) return {-1, -1};
  return {m.m10 / m.m00, m.m01 / m.m00};
}

}  // namespace

TEST(PreprocessDnn, OracleModelBoxesAndEyeRollReachFramesH5) {
  if (!have_torch())
    GTEST_SKIP() << "SKIPPED: /usr/bin/python3 cannot import torch (Debian python3-torch), which writes the test's "
                    "ONNX model; the dnn detector's wiring is untested here (its error paths are, in BadModelFiles)";
  ScratchDir dir;
  write_models(dir.path());
  write_video(dir / "S.avi");
  auto r = run_psmflow("preprocess --config " + shell_quote(dnn_config(dir.path(), "oracle.onnx").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(record(dir / "run", "S").value("status", ""), "done") << r.output;

  FramesReader f(dir / "run/subjects/S/frames.h5");
  ASSERT_EQ(f.size(), kFrames);
  const int n = f.crop_size();
  std::vector<std::uint8_t> crop(std::size_t(n) * n * 3);
  for (int i = 0; i < kFrames; ++i) {
    if (i >= kFaceFrames) {
      EXPECT_FALSE(f.detected()[i]) << "frame " << i << " shows no face";
      continue;
    }
    ASSERT_TRUE(f.detected()[i]) << "frame " << i;
    // Keyframes come from the model (decoded through OpenCV's priors, on the downscaled window the
    // tracker gives it); frames in between are interpolated along the straight path.
    cv::Rect truth = face_at(i);
    auto b = f.bbox()[i];
    EXPECT_NEAR(b[0], truth.x, 1.5) << "frame " << i;
    EXPECT_NEAR(b[1], truth.y, 1.5) << "frame " << i;
    EXPECT_NEAR(b[2], truth.width, 2.0) << "frame " << i;
    EXPECT_NEAR(b[3], truth.height, 2.0) << "frame " << i;

    // The roll from the model's eyes is undone in the crop: the eyes are level, cyan on the left.
    // Unrotated they would be 2 * 0.22 * 80 * tan(20 deg) * 64 / 144 = 5.7 px apart in height.
    f.read(i, crop.data());
    cv::Mat rgb(n, n, CV_8UC3, crop.data());
    cv::Point2d left = centroid(rgb, {0, 150, 150}, {110, 255, 255});
    cv::Point2d right = centroid(rgb, {150, 150, 0}, {255, 255, 110});
    ASSERT_GE(left.x, 0) << "no cyan eye in the crop of frame " << i;
    ASSERT_GE(right.x, 0) << "no yellow eye in the crop of frame " << i;
    EXPECT_LT(left.x, right.x) << "frame " << i;
    EXPECT_NEAR(left.y, right.y, 1.5) << "frame " << i << ": eyes not levelled";
    // And they lie where a crop of the true box, rotated by kRoll, puts them.
    cv::Matx23d m = video::crop_transform(cv::Rect2f(truth), kRoll, 0.25, n);
    auto [l, rt] = eyes_of(truth);
    cv::Vec2d want_l = m * cv::Vec3d(l.x, l.y, 1), want_r = m * cv::Vec3d(rt.x, rt.y, 1);
    EXPECT_NEAR(left.x, want_l[0], 1.5) << "frame " << i;
    EXPECT_NEAR(left.y, want_l[1], 1.5) << "frame " << i;
    EXPECT_NEAR(right.x, want_r[0], 1.5) << "frame " << i;
    EXPECT_NEAR(right.y, want_r[1], 1.5) << "frame " << i;
  }

  // align_eyes = false: upright crops, the model's eyes notwithstanding.
  r = run_psmflow("preprocess --config " + shell_quote(dnn_config(dir.path(), "oracle.onnx", false).string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  FramesReader upright(dir / "run-upright/subjects/S/frames.h5");
  ASSERT_EQ(upright.size(), kFrames);
  for (int i = 0; i < kFaceFrames; i += 7) {
    upright.read(i, crop.data());
    cv::Mat rgb(n, n, CV_8UC3, crop.data());
    cv::Point2d left = centroid(rgb, {0, 150, 150}, {110, 255, 255});
    cv::Point2d right = centroid(rgb, {150, 150, 0}, {255, 255, 110});
    EXPECT_NEAR(right.y - left.y, 5.7, 1.5) << "frame " << i << ": the crop should not be rotated";
  }
}

// The detector on its own, on images of the sizes the tracker hands it: odd sizes, and windows
// under 64 pixels (on which OpenCV 4.6 cannot run YuNet unpadded).
TEST(PreprocessDnn, DetectorDecodesTheModelOnImagesOfAnySize) {
  if (!have_torch())
    GTEST_SKIP() << "SKIPPED: /usr/bin/python3 cannot import torch (Debian python3-torch), which writes the test's "
                    "ONNX model";
  ScratchDir dir;
  write_models(dir.path());
  PreprocessSection p;
  p.detector = "dnn";
  p.dnn_model = dir / "oracle.onnx";
  auto detector = video::make_detector(p);
  struct Case {
    cv::Size image;
    cv::Rect face;
  };
  for (const Case& c : {Case{{320, 240}, {100, 60, 80, 96}}, Case{{333, 251}, {7, 9, 60, 70}},
                        Case{{61, 50}, {12, 6, 36, 40}}, Case{{190, 147}, {70, 30, 56, 67}}}) {
    cv::Mat img(c.image, CV_8UC3, cv::Scalar(80, 90, 100));
    cv::rectangle(img, c.face, kGreen, -1);
    auto found = detector->detect(img, 10, 0);
    ASSERT_EQ(found.size(), 1u) << c.image;
    const auto& d = found[0];
    EXPECT_NEAR(d.box.x, c.face.x, 0.01) << c.image;
    EXPECT_NEAR(d.box.y, c.face.y, 0.01) << c.image;
    EXPECT_NEAR(d.box.width, c.face.width, 0.01) << c.image;
    EXPECT_NEAR(d.box.height, c.face.height, 0.01) << c.image;
    EXPECT_NEAR(d.score, 1, 1e-4);
    ASSERT_TRUE(d.eyes) << "YuNet gives the eyes";
    auto [l, r] = eyes_of(c.face);
    EXPECT_NEAR(d.eyes->first.x, l.x, 0.01) << "image-left eye first";
    EXPECT_NEAR(d.eyes->first.y, l.y, 0.01);
    EXPECT_NEAR(d.eyes->second.x, r.x, 0.01);
    EXPECT_NEAR(d.eyes->second.y, r.y, 0.01);
    EXPECT_TRUE(detector->detect(img, c.face.width + 5.f, 0).empty()) << "smaller than min_size";
    EXPECT_TRUE(detector->detect(img, 10, c.face.width - 5.f).empty()) << "larger than max_size";
    cv::Mat empty(c.image, CV_8UC3, cv::Scalar(80, 90, 100));
    EXPECT_TRUE(detector->detect(empty, 10, 0).empty()) << c.image;
  }
}

TEST(PreprocessDnn, BadModelFilesAreUsageErrorsNamingTheFile) {
  ScratchDir dir;
  make_subject(dir.path(), "S", 10);
  write_text(dir / "garbage.onnx", "this is not an ONNX protobuf\n");
  auto r = run_psmflow("preprocess --config " + shell_quote(dnn_config(dir.path(), "garbage.onnx").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  std::string named = (dir / "garbage.onnx").string() + ": cannot load the DNN face model (preprocess.dnn_model)";
  EXPECT_NE(r.output.find(named), std::string::npos) << r.output;
  EXPECT_EQ(record(dir / "run", "S").value("status", ""), "failed");
  EXPECT_NE(record(dir / "run", "S").value("error", "").find(named), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "run/subjects/S/frames.h5"));

  auto missing = run_psmflow("preprocess --config " + shell_quote(dnn_config(dir.path(), "absent.onnx").string()));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("absent.onnx"), std::string::npos) << missing.output;

  if (!have_torch())
    GTEST_SKIP() << "SKIPPED (after the garbage and missing model checks passed): /usr/bin/python3 cannot import torch "
                    "(Debian python3-torch), which writes the valid-but-not-YuNet models";
  write_models(dir.path());
  auto other = run_psmflow("preprocess --config " + shell_quote(dnn_config(dir.path(), "not_yunet.onnx").string()));
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find((dir / "not_yunet.onnx").string() + ": the DNN face model (preprocess.dnn_model) failed"),
            std::string::npos) << other.output;
  EXPECT_NE(other.output.find("outputs loc, conf, iou"), std::string::npos) << other.output;

  // YuNet's output names, one prior's worth of values: OpenCV 4.6 alone would read past their end.
  auto wrong = run_psmflow("preprocess --config " + shell_quote(dnn_config(dir.path(), "wrong_layout.onnx").string()));
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find((dir / "wrong_layout.onnx").string() + ": the DNN face model (preprocess.dnn_model) failed"),
            std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find("Its outputs loc, conf, iou hold 14, 2, 1 values where FaceDetectorYN reads 82250, 11750, 5875"),
            std::string::npos) << wrong.output;
}
