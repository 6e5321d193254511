// Shared by the preprocess CLI tests: a subject with a drawn-face video and DISFA labels, and
// the manifest record of a run.
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "face_video.hpp"
#include "support/test_support.hpp"

namespace psmflow::test {

struct TestSubject {
  fs::path video;
  fs::path labels;  // DISFA folder
  std::vector<FacePose> poses;
};

// frames frames at 320x240 with labels for AU1 (frame % 6) and AU12 (3) for `label_frames` frames.
inline TestSubject make_subject(const fs::path& dir, const std::string& id, int frames, int label_frames = -1) {
  TestSubject s;
  s.video = dir / (id + ".avi");
  fs::create_directories(dir);
  s.poses = write_face_video(s.video, frames, {320, 240}, [](int i) { return default_path(i, {320, 240}); });
  s.labels = dir / "labels" / id;
  std::string au1, au12;
  for (int f = 1; f <= (label_frames < 0 ? frames : label_frames); ++f) {
    au1 += std::to_string(f) + "," + std::to_string((f - 1) % 6) + "\n";
    au12 += std::to_string(f) + ",3\n";
  }
  write_text(s.labels / (id + "_au1.txt"), au1);
  write_text(s.labels / (id + "_au12.txt"), au12);
  return s;
}

inline std::string preprocess_args(const fs::path& input, const std::string& id, const fs::path& run,
                                   const fs::path& labels = {}) {
  std::string a = "preprocess --input " + shell_quote(input.string()) + " --subject " + shell_quote(id) + " --run-dir " +
                  shell_quote(run.string());
  if (!labels.empty()) a += " --labels " + shell_quote(labels.string());
  return a;
}

inline nlohmann::json record(const fs::path& run, const std::string& id) {
  std::ifstream in(run / "manifest" / id / "preprocess.json");
  if (!in) return nlohmann::json::object();
  return nlohmann::json::parse(in);
}

}  // namespace psmflow::test
