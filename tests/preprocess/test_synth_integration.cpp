// End to end on the synthetic cohort (`psmflow synth`), whose generator knows where every face
// is: >= 95% of in-frame, unoccluded faces found, crops centred on the true face.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "pipeline_support.hpp"
#include "psmflow/store/frames.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

struct Truth {
  float x, y, w, h;
  bool in_frame, occluded;
};

// truth/<id>.csv: frame,face_x,face_y,face_w,face_h,in_frame,occluded (box = top-left + size).
std::map<std::int64_t, Truth> read_truth(const fs::path& csv) {
  std::map<std::int64_t, Truth> out;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell;
    std::vector<double> v;
    // The face columns come first; the idiosyncrasy's kind (text) and intensity follow.
    while (v.size() < 7 && std::getline(ss, cell, ',')) v.push_back(std::stod(cell));
    if (v.size() < 7) continue;
    out[static_cast<std::int64_t>(v[0])] = {float(v[1]), float(v[2]), float(v[3]), float(v[4]), v[5] != 0, v[6] != 0};
  }
  return out;
}

}  // namespace

TEST(PreprocessSynth, FindsTheFacesTheGeneratorDrew) {
  ScratchDir dir;
  auto synth = run_psmflow("synth --out " + shell_quote((dir / "cohort").string()) + " --subjects 2 --frames 300 --seed 7");
  // Until issue 2 lands, `psmflow synth` is a stub that refuses these options with exit 2.
  if (synth.exit_code == 2 && run_psmflow("help synth").output.find("--frames") == std::string::npos)
    GTEST_SKIP() << "SKIPPED: psmflow synth is not built in this checkout (issue 2); the drawn-face tests cover "
                    "the same path. synth said: " << synth.output;
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  for (std::string id : {"S01", "S02"}) {
    fs::path video = dir / "cohort/videos" / (id + ".avi");
    auto r = run_psmflow(preprocess_args(video, id, dir / "run", dir / "cohort/labels" / id));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto truth = read_truth(dir / "cohort/truth" / (id + ".csv"));
    FramesReader f(dir / "run/subjects" / id / "frames.h5");
    ASSERT_EQ(f.size(), 300);
    int visible = 0, found = 0, centred = 0;
    for (std::int64_t i = 0; i < f.size(); ++i) {
      const Truth& t = truth.at(f.frame_index()[i]);
      if (!t.in_frame || t.occluded) continue;
      ++visible;
      if (!f.detected()[i]) continue;
      ++found;
      auto b = f.bbox()[i];
      float dx = b[0] + b[2] / 2 - (t.x + t.w / 2), dy = b[1] + b[3] / 2 - (t.y + t.h / 2);
      centred += std::hypot(dx, dy) <= std::max(4.f, 0.08f * t.w);
    }
    ASSERT_GT(visible, 200) << id;
    EXPECT_GE(found, 0.95 * visible) << id << ": faces found in " << found << " of " << visible << " frames";
    EXPECT_GE(centred, 0.95 * found) << id << ": crops centred on the true face in " << centred << " of " << found;
    EXPECT_EQ(f.labels().size(), 12u) << id;
  }
}
