#include <gtest/gtest.h>

#include "psmflow/core/error.hpp"
#include "psmflow/video/labels.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::video;
using psmflow::test::ScratchDir;
using psmflow::test::write_text;

namespace {

std::string disfa_lines(int first, int last, int value) {
  std::string s;
  for (int f = first; f <= last; ++f) s += std::to_string(f) + "," + std::to_string(value) + "\n";
  return s;
}

// The StageError text of f(), or "" when it did not throw.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const StageError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::int64_t> range(int n) {
  std::vector<std::int64_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST(Labels, DisfaFolderIsReadWithFrameBaseOne) {
  ScratchDir dir;
  write_text(dir / "SN001_au1.txt", disfa_lines(1, 10, 2));
  write_text(dir / "SN001_AU12.TXT", "1,5\r\n2,0\r\n\r\n3,4\r\n");
  write_text(dir / "SN001_au2.txt", disfa_lines(1, 10, 1));  // not in aus: ignored
  write_text(dir / "notes.md", "not a label file");
  LabelTable t = read_labels(dir.path(), "disfa", 1, {1, 12});
  ASSERT_EQ(t.values.size(), 2u);
  EXPECT_EQ(t.values[1].size(), 10u);
  EXPECT_EQ(t.values[12].at(0), 5);  // DISFA frame 1 is 0-based frame 0
  EXPECT_EQ(t.values[12].at(2), 4);
  EXPECT_EQ(t.files.size(), 3u);  // hashed even when unused
  std::vector<std::string> warnings;
  auto au = align_labels(t, {1, 12}, {0, 1, 2, 3}, 10, warnings);
  EXPECT_EQ(au[1], (std::vector<std::int8_t>{2, 2, 2, 2}));
  EXPECT_EQ(au[12], (std::vector<std::int8_t>{5, 0, 4, -1}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("SN001_AU12.TXT: no label for 1 of 4 kept frames (first: 0-based frame 3)"),
            std::string::npos) << warnings[0];
}

TEST(Labels, CsvIsReadByColumnName) {
  ScratchDir dir;
  write_text(dir / "l.csv", "frame,AU1,au04,AU12\n0,1,,3\n1,0,2,5\n");
  LabelTable t = read_labels(dir / "l.csv", "csv", 0, {1, 4, 12, 25});
  EXPECT_EQ(t.values[4].size(), 1u);  // the empty cell is no label
  std::vector<std::string> warnings;
  auto au = align_labels(t, {1, 4, 12, 25}, {0, 1}, 2, warnings);
  EXPECT_EQ(au[4], (std::vector<std::int8_t>{-1, 2}));
  EXPECT_EQ(au[12], (std::vector<std::int8_t>{3, 5}));
  EXPECT_EQ(au[25], (std::vector<std::int8_t>{-1, -1}));
  ASSERT_EQ(warnings.size(), 2u);  // AU4 missing one frame, AU25 missing entirely
  EXPECT_NE(warnings[1].find("no labels for AU25"), std::string::npos) << warnings[1];
}

TEST(Labels, ErrorsNameFileAndLine) {
  ScratchDir dir;
  write_text(dir / "a" / "x_au1.txt", "1,0\n2,7\n");
  EXPECT_EQ(error_of([&] { read_labels(dir / "a", "disfa", 1, {1}); }), (dir / "a" / "x_au1.txt").string() + ":2: intensity 7 outside 0..5");
  write_text(dir / "b" / "x_au1.txt", "1,0\n2,1\n2,1\n");
  EXPECT_EQ(error_of([&] { read_labels(dir / "b", "disfa", 1, {1}); }), (dir / "b" / "x_au1.txt").string() + ":3: frame 2 listed twice");
  write_text(dir / "c" / "x_au1.txt", "1,0\nabc\n");
  EXPECT_NE(error_of([&] { read_labels(dir / "c", "disfa", 1, {1}); }).find("x_au1.txt:2: expected 'frame,intensity'"), std::string::npos);
  write_text(dir / "d" / "x_au1.txt", "0,1\n");
  EXPECT_NE(error_of([&] { read_labels(dir / "d", "disfa", 1, {1}); }).find("x_au1.txt:1: frame 0 is below data.label_frame_base = 1"), std::string::npos);
  write_text(dir / "e.csv", "frame,AU1,smile\n");
  EXPECT_EQ(error_of([&] { read_labels(dir / "e.csv", "csv", 0, {1}); }), (dir / "e.csv").string() + ":1: column 'smile' is not AU<number>");
  write_text(dir / "f.csv", "frame,AU1\n0,1\n1\n");
  EXPECT_EQ(error_of([&] { read_labels(dir / "f.csv", "csv", 0, {1}); }), (dir / "f.csv").string() + ":3: 1 fields, the header has 2");
  write_text(dir / "g.csv", "frame,AU1\n0,1\n0,2\n");
  EXPECT_EQ(error_of([&] { read_labels(dir / "g.csv", "csv", 0, {1}); }), (dir / "g.csv").string() + ":3: frame 0 listed twice");
  write_text(dir / "h" / "x_au1.txt", "1,0\n");
  write_text(dir / "h" / "y_au01.txt", "1,0\n");
  EXPECT_NE(error_of([&] { read_labels(dir / "h", "disfa", 1, {1}); }).find("a second label file for AU1"), std::string::npos);
  EXPECT_NE(error_of([&] { read_labels(dir / "e.csv", "disfa", 1, {1}); }).find("needs a folder"), std::string::npos);
  EXPECT_NE(error_of([&] { read_labels(dir / "h", "csv", 1, {1}); }).find("needs a CSV file"), std::string::npos);
}

TEST(Labels, LongerLabelsWarnAndLabelsOfAnotherVideoFail) {
  ScratchDir dir;
  write_text(dir / "l" / "s_au1.txt", disfa_lines(1, 15, 3));
  LabelTable t = read_labels(dir / "l", "disfa", 1, {1});
  std::vector<std::string> warnings;
  auto au = align_labels(t, {1}, range(10), 10, warnings);
  EXPECT_EQ(au[1], std::vector<std::int8_t>(10, 3));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("s_au1.txt: 5 labels past the video's last frame (10 frames) are ignored"), std::string::npos)
      << warnings[0];
  write_text(dir / "m" / "s_au1.txt", disfa_lines(101, 120, 3));
  t = read_labels(dir / "m", "disfa", 1, {1});
  EXPECT_NE(error_of([&] { align_labels(t, {1}, range(10), 10, warnings); }).find("labels start at frame 100 but the video has only 10 frames"),
            std::string::npos);
}

// Hostile headers (issue 16): a column with more digits than an int holds was an uncaught
// std::out_of_range, and a 1 MB header cell could overflow the regex matcher's stack.
TEST(Labels, HostileCsvHeadersAreLineErrors) {
  ScratchDir dir;
  write_text(dir / "big.csv", "frame,AU99999999999999999999\n0,1\n");
  EXPECT_EQ(error_of([&] { read_labels(dir / "big.csv", "csv", 0, {1}); }),
            (dir / "big.csv").string() + ":1: column 'AU99999999999999999999' is not AU<number>");
  write_text(dir / "long.csv", "frame,AU" + std::string(1 << 20, '1') + "\n");
  EXPECT_NE(error_of([&] { read_labels(dir / "long.csv", "csv", 0, {1}); }).find(":1: column 'AU111"), std::string::npos);
  write_text(dir / "zero.csv", "frame,AU000012\n0,3\n");
  EXPECT_EQ(read_labels(dir / "zero.csv", "csv", 0, {12}).values.at(12).at(0), 3);
  write_text(dir / "d" / "x_au123456789012345.txt", "1,0\n");
  EXPECT_THROW(read_labels(dir / "d", "disfa", 1, {1}), StageError);  // not an AU file: none left
}
