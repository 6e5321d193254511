#include <gtest/gtest.h>

#include <cmath>

#include "pipeline_support.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/store/frames.hpp"
#include "psmflow/train/frames.hpp"
#include "psmflow/video/landmarks.hpp"
#include "real_video.hpp"

using namespace psmflow;
using namespace psmflow::test;

TEST(Landmarks, MissingOrCorruptModelIsAnErrorNamingTheFile) {
  ScratchDir dir;
  try {
    video::LandmarkModel m(dir / "absent.dat");
    FAIL() << "no error for a missing model";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "absent.dat").string()), std::string::npos) << e.what();
  }
  write_text(dir / "junk.dat", "this is not a dlib model");
  try {
    video::LandmarkModel m(dir / "junk.dat");
    FAIL() << "no error for a corrupt model";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "junk.dat").string()), std::string::npos) << e.what();
  }
}

// The corrupt model stops the run with exit 2 before the video is read: the video here is not
// even a video, and its own error ("cannot open") must not be the one reported.
TEST(Landmarks, CorruptModelFailsPreprocessBeforeAnyVideoIsRead) {
  ScratchDir dir;
  write_text(dir / "junk.dat", "not a model");
  write_text(dir / "notavideo.avi", "garbage");
  write_text(dir / "c.toml", "[run]\nrun_dir = \"" + (dir / "run").string() + "\"\n[preprocess]\nlandmark_model = \"" +
                                 (dir / "junk.dat").string() + "\"\n[[data.subject]]\nid = \"S\"\ninput = \"" +
                                 (dir / "notavideo.avi").string() + "\"\n");
  auto r = run_psmflow("preprocess --config " + shell_quote((dir / "c.toml").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find((dir / "junk.dat").string()), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("notavideo"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run/subjects/S/frames.h5"));
}

TEST(Landmarks, SixtyEightPointsPerFrameInFramesH5OnRealVideo) {
  ScratchDir dir;
  fs::path clip = dir / "clip.avi";
  write_megamind_clip(clip, 0, 40, 1.0);
  auto r = run_psmflow(preprocess_args(clip, "M", dir / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  FramesReader f(dir / "run/subjects/M/frames.h5");
  ASSERT_EQ(f.size(), 40);
  ASSERT_EQ(f.landmarks().size(), 40u * 68 * 2);
  ASSERT_EQ(f.confidence().size(), 40u);
  int detected = 0;
  for (std::size_t i = 0; i < 40; ++i) {
    EXPECT_GE(f.confidence()[i], 0.f);
    EXPECT_LE(f.confidence()[i], 1.f);
    if (!f.detected()[i]) {
      EXPECT_TRUE(std::isnan(f.landmarks()[i * 136])) << "frame " << i << ": landmarks without a face";
      continue;
    }
    ++detected;
    auto b = f.bbox()[i];
    int inside = 0;
    for (int j = 0; j < 68; ++j) {
      float x = f.landmarks()[(i * 68 + j) * 2], y = f.landmarks()[(i * 68 + j) * 2 + 1];
      inside += x > b[0] - 0.2f * b[2] && x < b[0] + 1.2f * b[2] && y > b[1] - 0.2f * b[3] && y < b[1] + 1.3f * b[3];
    }
    EXPECT_GE(inside, 64) << "frame " << i << ": the landmarks are not on the face box";
    // The eyes lie above the mouth and apart: a face-shaped fit, not a collapsed one.
    float eye_y = f.landmarks()[(i * 68 + 37) * 2 + 1], mouth_y = f.landmarks()[(i * 68 + 57) * 2 + 1];
    float eyes_dx = f.landmarks()[(i * 68 + 45) * 2] - f.landmarks()[(i * 68 + 36) * 2];
    EXPECT_LT(eye_y, mouth_y) << "frame " << i;
    EXPECT_GT(eyes_dx, 0.25f * b[2]) << "frame " << i;
  }
  EXPECT_GE(detected, 38);
}

// Frames below [preprocess] min_confidence are left out of training like undetected ones.
TEST(Landmarks, LowConfidenceFramesAreExcludedFromTraining) {
  ScratchDir dir;
  FramesMeta meta;
  meta.subject = "S";
  meta.crop_size = 16;
  meta.min_confidence = 0.6;
  {
    FramesWriter w(dir / "f.h5", meta);
    std::vector<std::uint8_t> px(16 * 16 * 3, 7);
    for (int i = 0; i < 6; ++i) w.append(px.data(), i, i / 25.0, {0, 0, 16, 16}, i != 5);
    std::vector<float> xy(6 * 136, 1.f), fit(6, 0.9f);
    w.set_landmarks(xy, {0.9f, 0.2f, 0.6f, 0.59f, 1.f, 0.9f}, fit);
    w.close();
  }
  FramesReader r(dir / "f.h5");
  EXPECT_DOUBLE_EQ(r.meta().min_confidence, 0.6);
  EXPECT_EQ(r.usable(), (std::vector<std::uint8_t>{1, 0, 1, 0, 1, 0}));  // frame 5: not detected
  auto kept = train::load_frames(dir / "f.h5", true);
  EXPECT_EQ(kept.frame_index(), (std::vector<std::int64_t>{0, 2, 4}));
}
