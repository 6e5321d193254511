#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "face_video.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/video/decode.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::video;
using psmflow::test::ScratchDir;

namespace {

// A grey image whose level encodes n, so the order read back can be checked.
void write_frame(const fs::path& p, int n) { cv::imwrite(p.string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(10 * n))); }

std::vector<std::int64_t> read_indices(FrameSource& s, std::vector<int>* levels = nullptr) {
  std::vector<std::int64_t> out;
  Frame f;
  while (s.next(f)) {
    out.push_back(f.index);
    if (levels) levels->push_back(f.bgr.at<cv::Vec3b>(0, 0)[0]);
  }
  return out;
}

std::string stage_error(const fs::path& p, int base = 0) {
  try {
    open_source(p, {}, base);
  } catch (const StageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Decode, FrameNumberIsTheLastDigitRun) {
  EXPECT_EQ(frame_number_in_name("frame0012.jpg"), 12);
  EXPECT_EQ(frame_number_in_name("S01_take2_frame7.png"), 7);
  EXPECT_EQ(frame_number_in_name("cover.jpg"), -1);
}

TEST(Decode, FolderIsSortedByFrameNumberNotByName) {
  ScratchDir dir;
  for (int n : {1, 2, 10, 11, 3}) write_frame(dir / ("frame" + std::to_string(n) + ".png"), n);
  psmflow::test::write_text(dir / ".DS_Store", "hidden files are skipped");
  auto src = open_source(dir.path(), {}, 1);  // names count from 1, like DISFA
  std::vector<int> levels;
  EXPECT_EQ(read_indices(*src, &levels), (std::vector<std::int64_t>{0, 1, 2, 9, 10}));
  EXPECT_EQ(levels, (std::vector<int>{10, 20, 30, 100, 110}));
  EXPECT_EQ(src->error(), "");
  auto strided = open_source(dir.path(), {1, 11, 2}, 1);
  EXPECT_EQ(read_indices(*strided), (std::vector<std::int64_t>{1, 9}));
}

TEST(Decode, VideoHonoursRangeAndStrideAndReportsFps) {
  ScratchDir dir;
  psmflow::test::write_face_video(dir / "v.avi", 30, {160, 120}, [](int i) { return psmflow::test::default_path(i, {160, 120}); }, 20);
  auto all = open_source(dir / "v.avi", {});
  EXPECT_DOUBLE_EQ(all->fps(), 20);
  EXPECT_EQ(all->expected_frames(), 30);
  EXPECT_EQ(read_indices(*all).size(), 30u);
  EXPECT_EQ(all->error(), "");
  auto part = open_source(dir / "v.avi", {5, 20, 4});
  Frame f;
  ASSERT_TRUE(part->next(f));
  EXPECT_EQ(f.index, 5);
  EXPECT_DOUBLE_EQ(f.time_s, 0.25);
  EXPECT_EQ(read_indices(*part), (std::vector<std::int64_t>{9, 13, 17}));
  EXPECT_EQ(part->error(), "");
}

TEST(Decode, BadFoldersAreErrorsNamingTheFile) {
  ScratchDir dir;
  fs::create_directories(dir / "a");
  write_frame(dir / "a" / "frame1.png", 1);
  psmflow::test::write_text(dir / "a" / "readme.txt", "x");
  EXPECT_EQ(stage_error(dir / "a"), (dir / "a" / "readme.txt").string() +
                                         ": not a frame image (frame folders hold only .jpg/.png/... images)");
  fs::create_directories(dir / "b");
  write_frame(dir / "b" / "cover.png", 1);
  EXPECT_EQ(stage_error(dir / "b"), (dir / "b" / "cover.png").string() + ": no frame number in the file name");
  fs::create_directories(dir / "c");
  EXPECT_EQ(stage_error(dir / "c"), (dir / "c").string() + ": folder holds no frame images");
  fs::create_directories(dir / "d");
  write_frame(dir / "d" / "frame0.png", 0);
  EXPECT_NE(stage_error(dir / "d", 1).find("frame0.png: frame number 0 is below data.label_frame_base = 1"), std::string::npos);
  EXPECT_EQ(stage_error(dir / "missing.avi"), (dir / "missing.avi").string() + ": no such file or folder");
}
