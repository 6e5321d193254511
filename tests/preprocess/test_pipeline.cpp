#include <gtest/gtest.h>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cmath>

#include "pipeline_support.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/store/frames.hpp"
#include "psmflow/video/detect.hpp"
#include "psmflow/video/preprocess.hpp"

using namespace psmflow;
using namespace psmflow::test;

TEST(PreprocessCli, OneSubjectWithoutConfigThenSkippedOnRerun) {
  ScratchDir dir;
  TestSubject s = make_subject(dir / "data", "S1", 120);
  fs::path run = dir / "run";
  auto r = run_psmflow(preprocess_args(s.video, "S1", run, s.labels));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(record(run, "S1").value("status", ""), "done") << r.output;

  FramesReader f(run / "subjects/S1/frames.h5");
  ASSERT_EQ(f.size(), 120);
  EXPECT_EQ(f.crop_size(), 64);
  EXPECT_EQ(f.meta().subject, "S1");
  EXPECT_DOUBLE_EQ(f.meta().fps, 25);
  ASSERT_EQ(f.meta().sources.size(), 3u);  // video + two label files
  EXPECT_EQ(f.meta().sources[0].path, fs::absolute(s.video).string());
  EXPECT_EQ(f.meta().sources[0].sha256.size(), 64u);
  int found = 0;
  for (int i = 0; i < 120; ++i) {
    EXPECT_EQ(f.frame_index()[i], i);
    EXPECT_NEAR(f.time_s()[i], i / 25.0, 1e-9);
    found += f.detected()[i];
    auto b = f.bbox()[i];
    EXPECT_LT(std::hypot(b[0] + b[2] / 2 - s.poses[i].centre.x, b[1] + b[3] / 2 - s.poses[i].centre.y), 5.0)
        << "frame " << i;
  }
  EXPECT_GE(found, 114);  // >= 95%
  ASSERT_EQ(f.labels().size(), 12u);  // every AU of [data] aus; the ones without files are -1
  EXPECT_EQ(f.labels().at(1)[7], 1);  // DISFA frame 8 -> 0-based frame 7, value (8-1)%6
  EXPECT_EQ(f.labels().at(12)[119], 3);
  EXPECT_EQ(f.labels().at(25)[0], -1);
  cv::Mat sheet = cv::imread((run / "subjects/S1/contact_sheet.png").string());
  EXPECT_GT(sheet.cols, 300);

  auto mtime = fs::last_write_time(run / "subjects/S1/frames.h5");
  auto again = run_psmflow(preprocess_args(s.video, "S1", run, s.labels));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already done, skipped"), std::string::npos) << again.output;
  EXPECT_EQ(fs::last_write_time(run / "subjects/S1/frames.h5"), mtime);

  write_text(s.labels / "S1_au12.txt", "1,4\n");  // a changed label file makes the stage run again
  auto changed = run_psmflow(preprocess_args(s.video, "S1", run, s.labels));
  EXPECT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_EQ(changed.output.find("already done"), std::string::npos) << changed.output;
  EXPECT_EQ(FramesReader(run / "subjects/S1/frames.h5").labels().at(12)[1], -1);
}

// The stage lends OpenCV's pool the cores while it runs (the detector takes the idle ones) and
// leaves the caller's setting as it found it: stages after it in the process have their own.
TEST(PreprocessStage, GivesOpenCvItsThreadSettingBack) {
  ScratchDir dir;
  TestSubject s = make_subject(dir / "data", "S1", 20);
  SubjectSpec spec;
  spec.id = "S1";
  spec.input = s.video;
  Manifest m{RunDir(dir / "run")};
  const int before = cv::getNumThreads();
  cv::setNumThreads(3);
  EXPECT_EQ(run_preprocess(default_config(), m, {spec}), 0);
  EXPECT_EQ(cv::getNumThreads(), 3);
  EXPECT_EQ(m.get("S1", stage::preprocess)->status, Status::done);
  cv::setNumThreads(before);
}

TEST(PreprocessCli, InputWithAConfigOfSettingsOnly) {
  ScratchDir dir;
  TestSubject s = make_subject(dir / "data", "S1", 30);
  write_text(dir / "settings.toml", "[preprocess]\ncrop_size = 48\nsmooth_landmarks = false\n");
  const std::string config = " --config " + shell_quote((dir / "settings.toml").string());
  auto r = run_psmflow(preprocess_args(s.video, "S1", dir / "run") + config);
  ASSERT_EQ(r.exit_code, 0) << r.output;  // --input gives the subject the config lacks
  EXPECT_EQ(FramesReader(dir / "run/subjects/S1/frames.h5").crop_size(), 48);
  auto none = run_psmflow("preprocess --run-dir " + shell_quote((dir / "run2").string()) + config);
  EXPECT_EQ(none.exit_code, 2) << none.output;  // without --input, a config without subjects has nothing to do
  EXPECT_NE(none.output.find("no subjects"), std::string::npos) << none.output;
}

TEST(PreprocessCli, FrameFolderInputUsesNumbersInNames) {
  ScratchDir dir;
  fs::create_directories(dir / "S2" / "face_only_aligned");
  std::vector<FacePose> poses;
  for (int i = 0; i < 30; ++i) {
    poses.push_back(default_path(i, {320, 240}));
    cv::imwrite((dir / "S2" / "face_only_aligned" / ("frame" + std::to_string(i + 1) + ".jpg")).string(),
                draw_face_frame({320, 240}, poses.back(), i));
  }
  auto r = run_psmflow(preprocess_args(dir / "S2" / "face_only_aligned", "S2", dir / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  FramesReader f(dir / "run/subjects/S2/frames.h5");
  ASSERT_EQ(f.size(), 30);
  EXPECT_EQ(f.frame_index()[10], 10);  // frame11.jpg, numbered from 1 like DISFA
  EXPECT_TRUE(std::isnan(f.time_s()[0]));  // folders carry no timing
  EXPECT_EQ(f.meta().fps, 0);
}

TEST(PreprocessCli, ConfigWithSeveralSubjectsGoesOnPastABadOne) {
  ScratchDir dir;
  TestSubject a = make_subject(dir / "data", "A", 40);
  TestSubject b = make_subject(dir / "data", "B", 40);
  write_text(dir / "data" / "C.avi", "");
  write_text(dir / "cfg.toml",
             "[run]\nrun_dir = \"run\"\nthreads = 4\n"
             "[preprocess]\ncrop_size = 32\n"
             "[[data.subject]]\nid = \"A\"\ninput = \"data/A.avi\"\nlabels = \"data/labels/A\"\n"
             "[[data.subject]]\nid = \"C\"\ninput = \"data/C.avi\"\n"
             "[[data.subject]]\nid = \"B\"\ninput = \"data/B.avi\"\n");
  auto r = run_psmflow("preprocess --config " + shell_quote((dir / "cfg.toml").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  fs::path run = dir / "run";
  EXPECT_EQ(record(run, "A").value("status", ""), "done");
  EXPECT_EQ(record(run, "B").value("status", ""), "done");
  EXPECT_EQ(record(run, "C").value("status", ""), "failed");
  EXPECT_EQ(record(run, "C").value("error", ""), (dir / "data" / "C.avi").string() + ": empty file (0 bytes)");
  EXPECT_EQ(FramesReader(run / "subjects/B/frames.h5").crop_size(), 32);
  EXPECT_EQ(record(run, "A")["details"].value("frames", ""), "40");

  auto one = run_psmflow("preprocess --config " + shell_quote((dir / "cfg.toml").string()) + " --subject A");
  EXPECT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("already done, skipped"), std::string::npos) << one.output;
  auto unknown = run_psmflow("preprocess --config " + shell_quote((dir / "cfg.toml").string()) + " --subject Z");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
}

namespace {

// The roll of the eyes in each crop of frames.h5 that shows both (OpenCV's eye cascade).
std::vector<float> crop_rolls(const fs::path& frames_h5) {
  FramesReader f(frames_h5);
  const int c = f.crop_size();
  std::vector<std::uint8_t> rgb(std::size_t(c) * c * 3);
  video::EyeFinder eyes{fs::path()};
  std::vector<float> out;
  cv::Mat gray;
  for (std::int64_t i = 0; i < f.size(); ++i) {
    f.read(i, rgb.data());
    cv::cvtColor(cv::Mat(c, c, CV_8UC3, rgb.data()), gray, cv::COLOR_RGB2GRAY);
    if (auto r = eyes.roll_deg(gray)) out.push_back(*r);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// A face rolled 14 degrees is cropped level (from its landmarks, or from the eye cascade where
// they do not fit), and stays rolled with align_eyes = false.
TEST(PreprocessCli, RolledFacesAreCroppedLevel) {
  ScratchDir dir;
  fs::create_directories(dir / "data");
  write_face_video(dir / "data/rolled.avi", 30, {320, 240}, [](int i) {
    FacePose p = default_path(i, {320, 240});
    p.roll_deg = 14;
    return p;
  });
  for (bool align : {true, false}) {
    const fs::path run = dir / (align ? "aligned" : "upright");
    write_text(dir / "settings.toml", std::string("[preprocess]\ncrop_size = 128\nalign_eyes = ") +
                                          (align ? "true" : "false") + "\n");
    auto r = run_psmflow(preprocess_args(dir / "data/rolled.avi", "R", run) + " --config " +
                         shell_quote((dir / "settings.toml").string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<float> rolls = crop_rolls(run / "subjects/R/frames.h5");
    ASSERT_GE(rolls.size(), 15u) << "eyes found in too few crops to tell";
    const float median = rolls[rolls.size() / 2];
    if (align)
      EXPECT_LT(std::abs(median), 4.f) << "aligned crops should be level";
    else
      EXPECT_NEAR(std::abs(median), 14.f, 4.f) << "upright crops keep the face's roll";
  }
}

// A faint face (its grey levels 0.22 as spread) still gets boxes from the cascade, but its
// landmark fit falls below 0.5 (the fit needs contrast): the eye cascade then levels the crop.
TEST(PreprocessCli, FacesWhoseLandmarksDoNotFitAreLevelledByTheirEyes) {
  ScratchDir dir;
  const cv::Size size(320, 240);
  cv::VideoWriter out((dir / "faint.avi").string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25,
                      size);
  for (int i = 0; i < 30; ++i) {
    FacePose p = default_path(i, size);
    p.roll_deg = 14;
    cv::Mat frame = draw_face_frame(size, p, i), faint;
    frame.convertTo(faint, -1, 0.22, (1 - 0.22) * 128);
    out.write(faint);
  }
  out.release();
  write_text(dir / "settings.toml", "[preprocess]\ncrop_size = 128\n");
  auto r = run_psmflow(preprocess_args(dir / "faint.avi", "F", dir / "run") + " --config " +
                       shell_quote((dir / "settings.toml").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  FramesReader f(dir / "run/subjects/F/frames.h5");
  int detected = 0, unfit = 0;
  for (std::int64_t i = 0; i < f.size(); ++i) {
    detected += f.detected()[std::size_t(i)];
    unfit += f.detected()[std::size_t(i)] && f.landmark_fit()[std::size_t(i)] < 0.5f;
  }
  ASSERT_GE(detected, 25) << "the cascade should find the faint face";
  ASSERT_GE(unfit, 20) << "the landmarks should not fit a face this faint";
  std::vector<float> rolls = crop_rolls(dir / "run/subjects/F/frames.h5");
  std::string seen;
  for (float x : rolls) seen += " " + std::to_string(x);
  ASSERT_GE(rolls.size(), 4u) << "eyes found in too few crops to tell:" << seen;
  EXPECT_LT(std::abs(rolls[rolls.size() / 2]), 4.f) << "the eyes should have levelled the crops:" << seen;
}
