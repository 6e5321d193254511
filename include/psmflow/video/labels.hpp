// AU labels: a DISFA folder (one file per AU, named *au<k>.txt, lines "frame,intensity") or one
// CSV file (header "frame,AU1,AU2,..."; an empty cell = no label). Frame numbers in both use
// [data] label_frame_base (DISFA counts from 1); they are stored as 0-based source frames.
//
// Errors (StageError "FILE:LINE: reason"): an unparseable line, an intensity outside 0..5, a
// frame listed twice, a frame number below the base, a CSV header without "frame" or with a
// column that is not AU<k>, two DISFA files for one AU, and a label file none of whose frames
// fall inside the video (the wrong file). Warnings (the data is still used correctly): labels
// past the end of the video (ignored), kept frames without a label (stored as -1), an AU of
// [data] aus with no labels at all (all -1).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace psmflow::video {
namespace fs = std::filesystem;

struct LabelTable {
  std::map<int, std::map<std::int64_t, int>> values;  // AU -> 0-based frame -> intensity
  std::map<int, fs::path> origin;                     // AU -> file it came from
  std::vector<fs::path> files;                        // every file read, sorted
};

// format: "disfa" (path is a folder) or "csv" (path is a file). Only AUs in `aus` are kept.
LabelTable read_labels(const fs::path& path, const std::string& format, int frame_base, const std::vector<int>& aus);

// One int8 per kept frame for every AU in `aus` (-1 = no label). source_frames = frames in the
// video (labels at or past it are reported and ignored; -1 = unknown). Warnings are appended.
std::map<int, std::vector<std::int8_t>> align_labels(const LabelTable& t, const std::vector<int>& aus,
                                                     const std::vector<std::int64_t>& frame_index,
                                                     std::int64_t source_frames, std::vector<std::string>& warnings);

// The label files a subject's labels path stands for (for hashing), sorted.
std::vector<fs::path> label_files(const fs::path& path, const std::string& format);

}  // namespace psmflow::video
