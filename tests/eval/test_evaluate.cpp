// evaluate_subject on an in-memory subject whose PSM embedding carries the AUs and whose
// untrained embedding is noise.
#include <gtest/gtest.h>

#include <cmath>

#include "psmflow/eval/evaluate.hpp"
#include "psmflow/eval/metrics.hpp"

using namespace psmflow;
using namespace psmflow::eval;

namespace {

SubjectData synthetic_subject(int n) {
  Rng rng(42);
  SubjectData d;
  d.subject = "S01";
  d.aus = {1, 2, 4};
  d.intensity.assign(3, std::vector<int>(n, 0));
  for (int i = 0; i < n; ++i) {
    d.intensity[0][i] = i % 3 == 0 ? 3 : 0;             // AU1 present in a third of frames
    d.intensity[1][i] = i % 5 == 0 ? 2 + i % 2 : 1;     // AU2 present in a fifth (intensity 1 is below 2)
    d.intensity[2][i] = i == 7 ? 4 : (i == 9 ? -1 : 0);  // AU4 once: not active; frame 9 unlabelled
  }
  auto noise = [&] { return rng.below(2001) / 1000.0 - 1.0; };
  Matrix psm(n, 6), gm(n, 6), untrained(n, 6), pixels(n, 48);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 6; ++j) psm.at(i, j) = 0.3 * noise(), gm.at(i, j) = noise(), untrained.at(i, j) = noise();
    psm.at(i, 0) += 3.0 * (d.intensity[0][i] >= 2);
    psm.at(i, 1) += 3.0 * (d.intensity[1][i] >= 2);
    gm.at(i, 0) += 1.0 * (d.intensity[0][i] >= 2);
    for (int j = 0; j < 48; ++j) pixels.at(i, j) = 0.5 + 0.1 * noise();
  }
  d.embeddings = {{"psm", psm}, {"gm", gm}, {"untrained", untrained}};
  d.pixels = pixels;
  return d;
}

}  // namespace

TEST(EvalSubject, ScoresModelsAndBaselinesAndClusters) {
  Config cfg = default_config();
  cfg.eval.dbscan_eps = {0.5, 1, 2, 4};
  cfg.eval.dbscan_min_samples = {3, 5};
  cfg.eval.chosen_eps = 1.5;
  cfg.eval.chosen_min_samples = 5;
  auto j = evaluate_subject(synthetic_subject(150), cfg);
  EXPECT_EQ(j["subject"], "S01");
  EXPECT_EQ(j["frames"], 150);
  EXPECT_EQ(j["active_aus"], nlohmann::json({1, 2}));
  EXPECT_EQ(j["aus"]["AU2"]["present_frames"], 30);
  EXPECT_EQ(j["aus"]["AU4"]["labelled_frames"], 149);
  EXPECT_FALSE(j["aus"]["AU4"]["active"].get<bool>());
  for (const char* m : {"psm", "gm", "untrained", "pixels-pca"}) ASSERT_TRUE(j["models"].contains(m)) << m;
  EXPECT_GT(j["models"]["psm"]["mean_f1"].get<double>(), 0.95);
  EXPECT_LT(j["models"]["untrained"]["mean_f1"].get<double>(), 0.6);
  EXPECT_TRUE(j["models"]["untrained"]["baseline"].get<bool>());
  EXPECT_TRUE(j["models"]["pixels-pca"]["baseline"].get<bool>());
  EXPECT_FALSE(j["models"]["psm"]["baseline"].get<bool>());
  EXPECT_EQ(j["models"]["pixels-pca"]["dims"], 30);
  EXPECT_EQ(j["models"]["psm"]["mean_draws"].size(), 100u);
  auto psm_au1 = j["models"]["psm"]["aus"]["AU1"]["boot"];
  EXPECT_LE(psm_au1["lo"].get<double>(), psm_au1["hi"].get<double>());
  EXPECT_EQ(j["clusters"]["counts"]["psm"].size(), 4u);
  EXPECT_EQ(j["clusters"]["counts"]["psm"][0].size(), 2u);
  EXPECT_TRUE(j["clusters"]["chosen"].contains("novel_psm"));
  EXPECT_EQ(j["embedding"], cfg.model.embedding);
  // A rerun gives the same numbers.
  EXPECT_EQ(evaluate_subject(synthetic_subject(150), cfg).dump(), j.dump());
}

TEST(EvalSubject, PresenceUsesTheThresholdAndKeepsUnlabelled) {
  EXPECT_EQ(presence({0, 1, 2, 5, -1}, 2.0), (std::vector<int>{0, 0, 1, 1, -1}));
  EXPECT_EQ(presence({0, 1, 2, 5, -1}, 1.0), (std::vector<int>{0, 1, 1, 1, -1}));
}

TEST(EvalSubject, PcaKeepsTheDirectionOfLargestVariance) {
  // Points on the line (t, 2t, 0) plus tiny noise on the third axis: one component carries the line.
  Matrix x(20, 3);
  for (int i = 0; i < 20; ++i) x.at(i, 0) = i, x.at(i, 1) = 2.0 * i, x.at(i, 2) = (i % 2) * 1e-3;
  Matrix p = pca_project(x, 2);
  ASSERT_EQ(p.cols, 2);
  ASSERT_EQ(p.rows, 20);
  // First component: distance along the line from the mean, up to sign: sqrt(5) * (i - 9.5).
  double sign = p.at(0, 0) < 0 ? 1.0 : -1.0;
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(sign * p.at(i, 0), std::sqrt(5.0) * (i - 9.5), 1e-6);
  EXPECT_EQ(pca_project(x, 30).cols, 3);  // never more components than dimensions
}

TEST(EvalSubject, TinySubjectStillGivesAnAnswer) {
  SubjectData d = synthetic_subject(7);  // fewer positives than folds for some AUs
  Config cfg = default_config();
  auto j = evaluate_subject(d, cfg);
  EXPECT_EQ(j["frames"], 7);
  for (const auto& [tag, m] : j["models"].items()) {
    double v = m["mean"]["mean"].get<double>();
    EXPECT_TRUE(v >= 0.0 && v <= 1.0) << tag;
  }
}
