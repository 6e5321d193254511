#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>

#include "pipeline_support.hpp"
#include "psmflow/store/frames.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

// Runs the no-config form and expects the subject to fail with `message` in the output and manifest.
void expect_failed(const fs::path& run, const fs::path& input, const std::string& message, const fs::path& labels = {}) {
  auto r = run_psmflow(preprocess_args(input, "S", run, labels));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  auto rec = record(run, "S");
  EXPECT_EQ(rec.value("status", ""), "failed");
  EXPECT_NE(rec.value("error", "").find(message), std::string::npos) << rec.dump();
}

}  // namespace

TEST(PreprocessBadInput, ZeroByteFile) {
  ScratchDir dir;
  write_text(dir / "empty.avi", "");
  expect_failed(dir / "run", dir / "empty.avi", (dir / "empty.avi").string() + ": empty file (0 bytes)");
}

TEST(PreprocessBadInput, NotAVideo) {
  ScratchDir dir;
  write_text(dir / "notes.avi", std::string(5000, 'x'));
  expect_failed(dir / "run", dir / "notes.avi", (dir / "notes.avi").string() + ": cannot open as a video");
}

TEST(PreprocessBadInput, TruncatedVideoKeepsWhatDecoded) {
  ScratchDir dir;
  TestSubject s = make_subject(dir.path(), "S", 60);
  fs::resize_file(s.video, fs::file_size(s.video) / 2);
  expect_failed(dir / "run", s.video, (s.video).string() + ": decoding stopped after ");
  EXPECT_NE(record(dir / "run", "S").value("error", "").find("of 60 frames (truncated or corrupt video)"), std::string::npos);
  FramesReader f(dir / "run/subjects/S/frames.h5");
  EXPECT_GT(f.size(), 10);
  EXPECT_LT(f.size(), 60);
}

TEST(PreprocessBadInput, VideoWithNoFace) {
  ScratchDir dir;
  write_face_video(dir / "wall.avi", 20, {320, 240}, [](int) {
    FacePose p;
    p.visible = false;
    return p;
  });
  expect_failed(dir / "run", dir / "wall.avi", (dir / "wall.avi").string() + ": no face found in any of its 20 frames");
  EXPECT_TRUE(fs::exists(dir / "run/subjects/S/contact_sheet.png"));  // to see what the video shows
  EXPECT_FALSE(fs::exists(dir / "run/subjects/S/frames.h5"));
}

TEST(PreprocessBadInput, FolderWithNonImageFiles) {
  ScratchDir dir;
  fs::create_directories(dir / "frames");
  cv::imwrite((dir / "frames/frame1.jpg").string(), draw_face_frame({320, 240}, default_path(0, {320, 240}), 0));
  write_text(dir / "frames/list.txt", "frame1.jpg\n");
  expect_failed(dir / "run", dir / "frames", (dir / "frames/list.txt").string() + ": not a frame image");
}

TEST(PreprocessBadInput, CorruptImageInFolder) {
  ScratchDir dir;
  fs::create_directories(dir / "frames");
  for (int i = 1; i <= 3; ++i)
    cv::imwrite((dir / "frames" / ("frame" + std::to_string(i) + ".jpg")).string(),
                draw_face_frame({320, 240}, default_path(i, {320, 240}), i));
  write_text(dir / "frames/frame4.jpg", "not really a jpeg");
  expect_failed(dir / "run", dir / "frames", (dir / "frames/frame4.jpg").string() + ": cannot decode image");
  EXPECT_EQ(FramesReader(dir / "run/subjects/S/frames.h5").size(), 3);
}

// Root reads any file through its CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH capabilities. As root,
// psmflow runs without them (setpriv from util-linux drops them from its bounding set, so the exec'd
// process never gets them): still uid 0 and owner of every other file of the test, but a mode-000
// file now fails to open with EACCES exactly as it does for a normal user.
TEST(PreprocessBadInput, UnreadableFile) {
  ScratchDir dir;
  TestSubject s = make_subject(dir / "data", "S", 10);
  make_subject(dir / "data", "T", 10);
  fs::permissions(s.video, fs::perms::none);
  write_text(dir / "cfg.toml", "[run]\nrun_dir = \"run\"\nthreads = 2\n"
                               "[[data.subject]]\nid = \"S\"\ninput = \"data/S.avi\"\n"
                               "[[data.subject]]\nid = \"T\"\ninput = \"data/T.avi\"\n");
  std::string prefix;
  if (::geteuid() == 0) {
    prefix = "setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search -- ";
    auto probe = run_shell("(" + prefix + "cat " + shell_quote(s.video.string()) + " >/dev/null)");
    ASSERT_NE(probe.output.find("Permission denied"), std::string::npos)
        << "as root, this test reads a mode-000 file without CAP_DAC_OVERRIDE; setpriv (util-linux) could not "
           "take it away (CAP_SETPCAP missing?): " << probe.output;
  }
  auto r = run_shell(prefix + shell_quote(psmflow_binary().string()) + " preprocess --config " +
                     shell_quote((dir / "cfg.toml").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(s.video.string() + ": "), std::string::npos) << r.output;
  auto rec = record(dir / "run", "S");
  EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
  EXPECT_NE(rec.value("error", "").find(s.video.string()), std::string::npos) << rec.dump();
  EXPECT_NE(rec.value("error", "").find("Permission denied"), std::string::npos) << rec.dump();
  EXPECT_FALSE(fs::exists(dir / "run/subjects/S/frames.h5"));
  EXPECT_EQ(record(dir / "run", "T").value("status", ""), "done") << r.output;
  EXPECT_EQ(FramesReader(dir / "run/subjects/T/frames.h5").size(), 10);
}

TEST(PreprocessBadInput, LabelFileForADifferentLength) {
  ScratchDir dir;
  TestSubject longer = make_subject(dir / "a", "S", 30, 45);
  auto r = run_psmflow(preprocess_args(longer.video, "S", dir / "run-a", longer.labels));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find((longer.labels / "S_au1.txt").string() + " (and 1 other label files): 15 labels past the video's last frame (30 frames) are ignored"),
            std::string::npos) << r.output;

  TestSubject shorter = make_subject(dir / "b", "S", 30, 20);
  r = run_psmflow(preprocess_args(shorter.video, "S", dir / "run-b", shorter.labels));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find((shorter.labels / "S_au1.txt").string() + " (and 1 other label files): no label for 10 of 30 kept frames"), std::string::npos)
      << r.output;
  EXPECT_EQ(FramesReader(dir / "run-b/subjects/S/frames.h5").labels().at(1)[25], -1);

  TestSubject other = make_subject(dir / "c", "S", 30);
  std::string far;
  for (int f = 1001; f <= 1030; ++f) far += std::to_string(f) + ",1\n";
  write_text(other.labels / "S_au1.txt", far);
  expect_failed(dir / "run-c", other.video, (other.labels / "S_au1.txt").string() + ": labels start at frame 1000", other.labels);
}

TEST(PreprocessBadInput, BadLabelValueNamesFileAndLine) {
  ScratchDir dir;
  TestSubject s = make_subject(dir.path(), "S", 10);
  write_text(s.labels / "S_au1.txt", "1,0\n2,9\n");
  expect_failed(dir / "run", s.video, (s.labels / "S_au1.txt").string() + ":2: intensity 9 outside 0..5", s.labels);
}

TEST(PreprocessBadInput, SubjectIdsWithSpacesOrQuotes) {
  ScratchDir dir;
  TestSubject s = make_subject(dir.path(), "S", 5);
  for (std::string id : {"S 01", "S'01", "S\"01"}) {
    auto r = run_psmflow(preprocess_args(s.video, id, dir / "run"));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--subject '" + id + "'"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir / "run"));  // nothing was started
}

TEST(PreprocessBadInput, UsageErrors) {
  ScratchDir dir;
  EXPECT_EQ(run_psmflow("preprocess").exit_code, 2);
  EXPECT_EQ(run_psmflow("preprocess --input " + shell_quote((dir / "nope.avi").string()) + " --subject S --run-dir " +
                        shell_quote((dir / "run").string())).exit_code, 2);
  EXPECT_EQ(run_psmflow("preprocess --input x.avi --run-dir r").exit_code, 2);
}
