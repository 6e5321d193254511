#include <gtest/gtest.h>

#include <set>

#include "psmflow/core/error.hpp"
#include "psmflow/train/sampler.hpp"
#include "psmflow/train/schedule.hpp"

using namespace psmflow;
using namespace psmflow::train;

namespace {
bool same_pairs(const std::vector<Pair>& a, const std::vector<Pair>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].a != b[i].a || a[i].b != b[i].b) return false;
  return true;
}
}  // namespace

TEST(PsmSampler, HalfTheFramesAsDisjointPairs) {
  for (std::int64_t n : {2, 7, 100, 101}) {
    PsmSampler s(n, 5);
    auto pairs = s.epoch_pairs(1);
    ASSERT_EQ(static_cast<std::int64_t>(pairs.size()), n / 2) << n;
    std::set<std::int64_t> seen;
    for (const auto& p : pairs) {
      EXPECT_TRUE(p.a >= 0 && p.a < n && p.b >= 0 && p.b < n);
      EXPECT_TRUE(seen.insert(p.a).second) << "frame used twice";
      EXPECT_TRUE(seen.insert(p.b).second) << "frame used twice";
      EXPECT_FALSE(p.flip_b);
    }
  }
}

TEST(PsmSampler, ReshuffledEveryEpochAndReproducible) {
  PsmSampler s(200, 5);
  EXPECT_FALSE(same_pairs(s.epoch_pairs(1), s.epoch_pairs(2)));  // the original's frozen pairs were a bug
  EXPECT_TRUE(same_pairs(s.epoch_pairs(3), PsmSampler(200, 5).epoch_pairs(3)));
  EXPECT_FALSE(same_pairs(s.epoch_pairs(3), PsmSampler(200, 6).epoch_pairs(3)));
}

TEST(CtlSampler, PairsAtDeltaInTemporalOrder) {
  const std::int64_t n = 300;
  CtlSampler s(n, 1);
  for (int epoch : {1, 10, 49, 50}) {
    auto pairs = s.epoch_pairs(epoch);
    const std::int64_t d = ctl_delta(epoch);
    ASSERT_EQ(static_cast<std::int64_t>(pairs.size()), n - d) << epoch;
    std::set<std::int64_t> firsts;
    for (const auto& p : pairs) {
      EXPECT_EQ(p.b - p.a, d);
      firsts.insert(p.a);
    }
    EXPECT_EQ(static_cast<std::int64_t>(firsts.size()), n - d);  // every i < N - Δ exactly once
    EXPECT_EQ(*firsts.begin(), 0);
  }
  EXPECT_TRUE(same_pairs(s.epoch_pairs(7), CtlSampler(n, 1).epoch_pairs(7)));
}

TEST(CtlSampler, DeltaCappedAtLastFrame) {
  CtlSampler s(30, 1);
  EXPECT_EQ(s.delta(10), 20);
  EXPECT_EQ(s.delta(15), 29);  // 30 >= N: capped at N - 1
  auto pairs = s.epoch_pairs(200);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].a, 0);
  EXPECT_EQ(pairs[0].b, 29);
}

TEST(Samplers, ModesAndTooFewFrames) {
  EXPECT_NE(dynamic_cast<PsmSampler*>(make_subject_sampler("psm", 10, 1).get()), nullptr);
  EXPECT_NE(dynamic_cast<CtlSampler*>(make_subject_sampler("psm-ctl", 10, 1).get()), nullptr);
  EXPECT_THROW(make_subject_sampler("gm", 10, 1), UsageError);
  EXPECT_THROW(PsmSampler(1, 1), StageError);
  EXPECT_THROW(CtlSampler(1, 1), StageError);
}
