// Discovery scores against synthetic ground truth: the truth reader's errors, novel-cluster
// enrichment on hand-made cases, and the "discovery" section of eval.json.
#include <gtest/gtest.h>

#include "psmflow/core/error.hpp"
#include "psmflow/eval/discovery.hpp"
#include "psmflow/eval/evaluate.hpp"
#include "psmflow/eval/metrics.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::eval;
using psmflow::test::ScratchDir;
using psmflow::test::write_text;

namespace {

const char* kHeader = "frame,face_x,face_y,face_w,face_h,in_frame,occluded,idiosyncrasy,idio_intensity,idio_strength\n";

std::string truth_error(const std::string& text) {
  ScratchDir dir;
  write_text(dir / "t.csv", text);
  try {
    read_truth(dir / "t.csv");
  } catch (const StageError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Discovery, ReadsTruthAndNamesTheFileAndLineOfBadInput) {
  ScratchDir dir;
  write_text(dir / "t.csv", std::string(kHeader) + "0,1,2,3,4,1,0,wink,0,0.000\n1,1,2,3,4,1,0,wink,3,0.612\n");
  Truth t = read_truth(dir / "t.csv");
  EXPECT_EQ(t.kind, "wink");
  EXPECT_EQ(t.intensity, (std::map<std::int64_t, int>{{0, 0}, {1, 3}}));
  EXPECT_NE(truth_error("frame,x\n0,1\n").find("no 'idiosyncrasy' column"), std::string::npos);
  EXPECT_NE(truth_error(std::string(kHeader) + "0,1,2,3,4,1,0,wink,7,1\n").find("line 2: idio_intensity 7 is not within 0..5"),
            std::string::npos);
  EXPECT_NE(truth_error(std::string(kHeader) + "0,1,2,3,4,1,0,wink,x,1\n").find("line 2: idio_intensity 'x' is not an integer"),
            std::string::npos);
  EXPECT_NE(truth_error(std::string(kHeader) + "0,1,2,3,4,1,0,wink,1,1\n0,1,2,3,4,1,0,wink,1,1\n").find("frame 0 appears twice"),
            std::string::npos);
  EXPECT_NE(truth_error(std::string(kHeader) + "0,1,2,3,4,1,0,wink,1,1\n1,1,2,3,4,1,0,pucker,1,1\n").find("line 3"),
            std::string::npos);
  EXPECT_NE(truth_error(std::string(kHeader) + "0,1,2\n").find("3 cells where the header has 10"), std::string::npos);
  EXPECT_NE(truth_error("").find("empty truth file"), std::string::npos);
  try {
    read_truth(dir / "absent.csv");
    FAIL();
  } catch (const StageError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.csv"), std::string::npos);
  }
}

TEST(Discovery, FramesInNovelFollowTheirClusterIncludingNoise) {
  std::vector<ClusterProfile> profiles = {{-1, 2, {}}, {0, 3, {}}, {1, 1, {}}};
  std::vector<int> labels = {0, 0, -1, 1, 0, -1};
  EXPECT_EQ(frames_in_novel(labels, profiles, {true, false, true}), (std::vector<int>{0, 0, 1, 1, 0, 1}));
  EXPECT_EQ(frames_in_novel(labels, profiles, {}), (std::vector<int>(6, 0)));
}

TEST(Discovery, EnrichmentCountsAndCircularShiftPValue) {
  // 100 frames, the idiosyncrasy in one episode 40..49; a novel cluster holding exactly it.
  std::vector<int> present(100, 0), novel(100, 0);
  for (int i = 40; i < 50; ++i) present[i] = novel[i] = 1;
  Enrichment e = novel_enrichment(novel, present);
  EXPECT_EQ(e.both, 10);
  EXPECT_DOUBLE_EQ(e.precision, 1.0);
  EXPECT_DOUBLE_EQ(e.recall, 1.0);
  EXPECT_EQ(e.permutations, 99);
  EXPECT_DOUBLE_EQ(e.p_value, 1.0 / 100);  // no other shift overlaps all ten frames
  // Half of the novel frames elsewhere: precision halves, recall stays.
  for (int i = 0; i < 10; ++i) novel[i] = 1;
  e = novel_enrichment(novel, present);
  EXPECT_DOUBLE_EQ(e.precision, 0.5);
  EXPECT_DOUBLE_EQ(e.recall, 1.0);
  // A novel cluster unrelated to the episode: no overlap, and every shift reaches 0.
  std::vector<int> far(100, 0);
  for (int i = 80; i < 90; ++i) far[i] = 1;
  e = novel_enrichment(far, present);
  EXPECT_EQ(e.both, 0);
  EXPECT_DOUBLE_EQ(e.precision, 0.0);
  EXPECT_DOUBLE_EQ(e.p_value, 1.0);
  // Nothing novel at all.
  e = novel_enrichment(std::vector<int>(100, 0), present);
  EXPECT_EQ(e.novel_frames, 0);
  EXPECT_DOUBLE_EQ(e.p_value, 1.0);
}

TEST(Discovery, EvalJsonScoresEveryEmbeddingAndBothModelsClusters) {
  const int n = 150;
  Rng rng(7);
  auto noise = [&] { return rng.below(2001) / 1000.0 - 1.0; };
  SubjectData d;
  d.subject = "S01";
  d.aus = {1};
  d.intensity.assign(1, std::vector<int>(n, 0));
  d.idiosyncrasy = "wink";
  d.idio_intensity.assign(n, 0);
  Matrix psm(n, 4), gm(n, 4), untrained(n, 4), pixels(n, 16);
  for (int i = 0; i < n; ++i) {
    d.intensity[0][i] = i % 3 == 0 ? 3 : 0;
    d.idio_intensity[i] = (i / 10) % 4 == 1 ? 4 : (i % 7 == 0 ? 1 : 0);  // episodes; intensity 1 is not present
    for (int j = 0; j < 4; ++j) psm.at(i, j) = 0.2 * noise(), gm.at(i, j) = 0.2 * noise(), untrained.at(i, j) = noise();
    psm.at(i, 0) += 3.0 * (d.intensity[0][i] >= 2), gm.at(i, 0) += 3.0 * (d.intensity[0][i] >= 2);
    psm.at(i, 1) += 3.0 * (d.idio_intensity[i] >= 2);  // only the PSM sees the idiosyncrasy
    for (int j = 0; j < 16; ++j) pixels.at(i, j) = 0.5 + 0.1 * noise();
  }
  d.embeddings = {{"psm", psm}, {"gm", gm}, {"untrained", untrained}};
  d.pixels = pixels;
  Config cfg = default_config();
  cfg.eval.chosen_eps = 1.0;
  cfg.eval.chosen_min_samples = 5;
  auto j = evaluate_subject(d, cfg);
  ASSERT_TRUE(j.contains("discovery"));
  const auto& disc = j["discovery"];
  EXPECT_EQ(disc["idiosyncrasy"], "wink");
  EXPECT_EQ(disc["present_frames"], 40);  // frames 10..19, 50..59, 90..99, 130..139
  for (const char* m : {"psm", "gm", "untrained", "pixels-pca"}) ASSERT_TRUE(disc["detection"].contains(m)) << m;
  EXPECT_GT(disc["detection"]["psm"]["f1"].get<double>(), 0.95);
  EXPECT_LT(disc["detection"]["gm"]["f1"].get<double>(), 0.6);
  EXPECT_TRUE(disc["detection"]["pixels-pca"]["baseline"].get<bool>());
  for (const char* m : {"psm", "gm"}) {
    const auto& c = disc["clusters"][m];
    EXPECT_EQ(c["idio_frames"], 40) << m;
    EXPECT_GE(c["p_value"].get<double>(), 1.0 / n) << m;
    EXPECT_LE(c["p_value"].get<double>(), 1.0) << m;
  }
  // Without a truth file the section is absent.
  d.idio_intensity.clear();
  EXPECT_FALSE(evaluate_subject(d, cfg).contains("discovery"));
}
