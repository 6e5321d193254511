// The evaluation maths on small inputs whose answers are worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "psmflow/eval/classifier.hpp"
#include "psmflow/eval/cluster.hpp"
#include "psmflow/eval/metrics.hpp"
#include "psmflow/eval/person_dependent.hpp"

using namespace psmflow::eval;

TEST(EvalF1, PositiveClassByHand) {
  // TP = 2 (0, 4), FP = 1 (2), FN = 1 (1): 2*2 / (4 + 1 + 1).
  EXPECT_DOUBLE_EQ(f1_positive({1, 1, 0, 0, 1}, {1, 0, 1, 0, 1}), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(f1_positive({0, 0}, {0, 0}), 0.0);  // no positives anywhere: 0, as sklearn's zero_division=0
  EXPECT_DOUBLE_EQ(f1_positive({1, 1}, {0, 0}), 0.0);
  // An unlabelled sample (-1) counts for nothing even when predicted present.
  EXPECT_DOUBLE_EQ(f1_positive({1, -1, 0}, {1, 1, 0}), 1.0);
}

TEST(EvalBootstrap, IntervalOfGivenDrawsByHand) {
  std::vector<int> truth = {1, 1, 0, 0, 1}, pred = {1, 0, 1, 0, 1};
  // Draw 1 = the sample itself (F1 2/3); draw 2 = sample 0 five times (F1 1); draw 3 = samples 1,1,3,3,3
  // (two misses, no TP: F1 0).
  std::vector<double> f1 = bootstrap_f1(truth, pred, {{0, 1, 2, 3, 4}, {0, 0, 0, 0, 0}, {1, 1, 3, 3, 3}});
  ASSERT_EQ(f1.size(), 3u);
  EXPECT_DOUBLE_EQ(f1[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(f1[1], 1.0);
  EXPECT_DOUBLE_EQ(f1[2], 0.0);
  Interval iv = summarise(f1);
  // Sorted 0, 2/3, 1: the 2.5th percentile sits at position 0.05, the 97.5th at 1.95 (linear interpolation).
  EXPECT_NEAR(iv.mean, 5.0 / 9.0, 1e-12);
  EXPECT_NEAR(iv.lo, 0.05 * 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(iv.hi, 2.0 / 3.0 + 0.95 / 3.0, 1e-12);
}

TEST(EvalBootstrap, DrawsAreDeterministicForASeedAndInRange) {
  auto a = bootstrap_indices(50, 100, 7), b = bootstrap_indices(50, 100, 7), c = bootstrap_indices(50, 100, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (const auto& d : a) {
    ASSERT_EQ(d.size(), 50u);
    for (int i : d) ASSERT_TRUE(i >= 0 && i < 50);
  }
}

TEST(EvalFolds, StratifiedFoldsKeepEachClassBalanced) {
  std::vector<int> y(30, 0);
  for (int i = 0; i < 9; ++i) y[i * 3] = 1;  // 9 positives, 21 negatives
  auto fold = stratified_folds(y, 3, 5);
  for (int f = 0; f < 3; ++f) {
    int pos = 0, all = 0;
    for (std::size_t i = 0; i < y.size(); ++i)
      if (fold[i] == f) ++all, pos += y[i];
    EXPECT_EQ(pos, 3) << "fold " << f;
    EXPECT_EQ(all, 10) << "fold " << f;
  }
  EXPECT_EQ(fold, stratified_folds(y, 3, 5));
}

TEST(EvalPercentile, MatchesNumpyLinear) {
  // numpy.percentile([1, 2, 3, 4], [2.5, 50, 97.5]) = 1.075, 2.5, 3.925
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 2.5), 1.075, 1e-12);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 50), 2.5, 1e-12);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 97.5), 3.925, 1e-12);
}

namespace {
Matrix column(std::vector<double> v) {
  Matrix m(static_cast<int>(v.size()), 1);
  m.data = std::move(v);
  return m;
}
}  // namespace

TEST(EvalDbscan, LabelsByHand) {
  Matrix d = pairwise_distances(column({0, 1, 2, 10, 11, 12, 12.5, 30}));
  // min_samples 3 (self included): 1 is core {0,1,2}; 11, 12, 12.5 are core; 0, 2, 10 are borders; 30 noise.
  EXPECT_EQ(dbscan(d, 1.5, 3), (std::vector<int>{0, 0, 0, 1, 1, 1, 1, -1}));
  // min_samples 4: only 11 is core, and only because eps is inclusive (|11 - 12.5| = 1.5) and it counts itself.
  EXPECT_EQ(dbscan(d, 1.5, 4), (std::vector<int>{-1, -1, -1, 0, 0, 0, 0, -1}));
  EXPECT_EQ(cluster_count(dbscan(d, 1.5, 4)), 1);
  EXPECT_EQ(dbscan(d, 0.5, 2), (std::vector<int>{-1, -1, -1, -1, -1, 0, 0, -1}));  // 12 and 12.5: 0.5 apart, inclusive
}

TEST(EvalDbscan, InclusiveEpsPairsUp) {
  Matrix d = pairwise_distances(column({0, 5, 12, 12.5}));
  EXPECT_EQ(dbscan(d, 0.5, 2), (std::vector<int>{-1, -1, 0, 0}));
}

TEST(EvalNovel, ProfilesByHand) {
  // AU a: frames 0..3 = 1, 1, 0, unlabelled; AU b: 0, 0, 0, 1.
  auto p = cluster_profiles({-1, 0, 0, 1}, {{1, 1, 0, -1}, {0, 0, 0, 1}});
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].label, -1);
  EXPECT_EQ(p[0].profile, (std::vector<double>{1.0, 0.0}));
  EXPECT_EQ(p[1].frames, 2);
  EXPECT_EQ(p[1].profile, (std::vector<double>{0.5, 0.0}));
  EXPECT_EQ(p[2].profile, (std::vector<double>{0.0, 1.0}));
}

TEST(EvalNovel, ExactlyTheUnmatchedClustersAreNovel) {
  // PSM: noise, a cluster like GM's 0, one like GM's 1, an all-zero one (dropped), and an AU-3-only one
  // that no GM cluster resembles. GM: two matching clusters and an AU-4-only one that no PSM cluster has.
  std::vector<ClusterProfile> psm = {{-1, 10, {0.9, 0.1, 0.0, 0.05}},
                                     {0, 10, {0.0, 0.8, 0.2, 0.1}},
                                     {1, 10, {0.0, 0.0, 0.0, 0.0}},
                                     {2, 10, {0.1, 0.1, 0.9, 0.0}}};
  std::vector<ClusterProfile> gm = {{-1, 10, {0.85, 0.15, 0.0, 0.05}}, {0, 10, {0.05, 0.75, 0.25, 0.1}},
                                    {1, 10, {0.0, 0.0, 0.1, 0.9}}};
  NovelResult r = novel_clusters(psm, gm, 0.8);
  EXPECT_EQ(r.psm_kept, (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(r.psm_novel, (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(r.gm_novel, (std::vector<bool>{false, false, true}));
  // Raw M[0][0] = Pearson 0.99786 - 0.1 is the maximum (1 after normalising); M[0][2] the minimum (0).
  EXPECT_DOUBLE_EQ(r.match.at(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(r.match.at(0, 2), 0.0);
  EXPECT_NEAR(r.match.at(1, 1), 0.9843, 1e-4);
  EXPECT_NEAR(r.match.at(2, 1), 0.2661, 1e-4);  // the best match of the novel PSM cluster, far below 0.8
  // A threshold above every entry but the maximum leaves only the maximum's row and column matched.
  NovelResult strict = novel_clusters(psm, gm, 0.99);
  EXPECT_EQ(strict.psm_novel, (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(strict.gm_novel, (std::vector<bool>{false, true, true}));
}

TEST(EvalNovel, SinglePairMatches) {
  NovelResult r = novel_clusters({{0, 3, {0.5, 0.1}}}, {{0, 3, {0.1, 0.2}}}, 0.8);
  EXPECT_EQ(r.psm_novel, (std::vector<bool>{false}));
  EXPECT_EQ(r.gm_novel, (std::vector<bool>{false}));
}

TEST(EvalClassifier, SeparableDataIsLearnedByBoth) {
  Matrix x(40, 2);
  std::vector<int> y(40);
  Rng rng(3);
  for (int i = 0; i < 40; ++i) {
    y[i] = i % 2;
    x.at(i, 0) = (y[i] ? 2.0 : -2.0) + (rng.below(1000) / 1000.0 - 0.5);
    x.at(i, 1) = rng.below(1000) / 1000.0;
  }
  EXPECT_EQ(predict(fit_logreg(x, y, 1.0), x), y);
  EXPECT_EQ(predict(fit_linear_svm(x, y, 1.0, 1), x), y);
  LinearModel one = fit_logreg(x, std::vector<int>(40, 1), 1.0);
  EXPECT_EQ(predict(one, x), std::vector<int>(40, 1));
}

TEST(EvalClassifier, WideMatrixReducedToItsSpanPredictsTheSame) {
  Rng rng(11);
  Matrix x(30, 80);
  for (double& v : x.data) v = rng.below(2001) / 1000.0 - 1.0;
  std::vector<int> y(30);
  for (int i = 0; i < 30; ++i) y[i] = x.at(i, 0) + 0.5 * x.at(i, 1) > 0;
  Matrix z = span_coordinates(x);
  EXPECT_LE(z.cols, 30);
  std::vector<int> train;
  for (int i = 0; i < 20; ++i) train.push_back(i);
  std::vector<int> ty(y.begin(), y.begin() + 20);
  LinearModel a = fit_logreg(select_rows(x, train), ty, 1.0), b = fit_logreg(select_rows(z, train), ty, 1.0);
  for (int i = 0; i < 30; ++i) EXPECT_NEAR(a.score(x.row(i)), b.score(z.row(i)), 1e-4) << "row " << i;
}

TEST(EvalPersonDependent, InformativeFeatureBeatsNoise) {
  Rng rng(5);
  const int n = 120;
  Matrix good(n, 3), noise(n, 3);
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) {
    labels[i] = i % 4 == 0;
    for (int j = 0; j < 3; ++j) noise.at(i, j) = rng.below(1000) / 1000.0, good.at(i, j) = rng.below(1000) / 1000.0;
    good.at(i, 0) += labels[i] * 3.0;
  }
  auto draws = bootstrap_indices(n, 100, 9);
  ClassifierSettings s;
  ModelScore g = person_dependent_f1(good, {1}, {labels}, s, draws);
  ModelScore z = person_dependent_f1(noise, {1}, {labels}, s, draws);
  EXPECT_GT(g.aus[0].f1, 0.95);
  EXPECT_LT(z.aus[0].f1, 0.5);
  EXPECT_LE(g.mean.lo, g.mean.mean);
  EXPECT_LE(g.mean.mean, g.mean.hi);
  EXPECT_EQ(g.mean_draws.size(), 100u);
  // Deterministic for a seed.
  EXPECT_EQ(person_dependent_f1(good, {1}, {labels}, s, draws).mean_draws, g.mean_draws);
}
