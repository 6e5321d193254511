// The preprocess stage (issue 3): one subject's video or frame folder to
// RUN_DIR/subjects/<id>/frames.h5 (aligned RGB face crops + labels) and contact_sheet.png.
// Decoding, detection/tracking/cropping and HDF5 writing run on three threads joined by
// bounded queues; several subjects run side by side within the allotted threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/frames.hpp"

namespace psmflow {

struct PreprocessStats {
  std::int64_t frames = 0;    // frames written
  std::int64_t detected = 0;  // frames whose face was found
  std::int64_t confident = 0;  // of those, frames at or above [preprocess] min_confidence: training uses them
  int detector_calls = 0;
  double seconds = 0;
  std::vector<std::string> warnings;
};

// SHA-256 of the source (file or frame folder) and of each label file, as recorded in frames.h5.
std::vector<SourceFile> subject_sources(const SubjectSpec& s, const std::string& label_format);
// The manifest input hash: SHA-256 over the sources' paths and hashes.
std::string input_hash(const std::vector<SourceFile>& sources);

// Processes one subject into `frames_out` (a path that does not exist yet, e.g. an AtomicPath
// temp) and the contact sheet PNG bytes. Throws StageError for bad input; when decoding
// stopped early, `partial_error` says why and the decoded frames are still written.
PreprocessStats preprocess_subject(const Config& cfg, const SubjectSpec& s, const std::vector<SourceFile>& sources,
                                   const std::string& frames_out, std::string& contact_sheet_png,
                                   std::string& partial_error);

// Runs the stage for each subject through run_stage() (skipped when unchanged), `jobs` subjects
// at a time. Returns how many failed. Throws UsageError only for problems that concern all.
int run_preprocess(const Config& cfg, Manifest& manifest, const std::vector<SubjectSpec>& subjects, bool force = false);

}  // namespace psmflow
