#include <gtest/gtest.h>

#include "psmflow/train/loader.hpp"
#include "train_test_support.hpp"

using namespace psmflow;
using namespace psmflow::train;

namespace {
std::vector<Batch> drain(BatchLoader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}
}  // namespace

TEST(Loader, StepsPerEpochKeepAShortLastBatch) {
  EXPECT_EQ(steps_in_epoch(32, 16), 2);
  EXPECT_EQ(steps_in_epoch(33, 16), 3);
  EXPECT_EQ(steps_in_epoch(5, 16), 1);
}

TEST(Loader, ThreadAheadGivesTheSameBatchesAsInline) {
  auto frames = test::synthetic_frames(23);
  PsmSampler sampler(frames.size(), 9);
  auto pairs = sampler.epoch_pairs(2);  // 11 pairs: batches of 4, 4, 3
  BatchLoader inline_loader(frames, pairs, 4, 9, 2, true, 0, 0);
  BatchLoader ahead(frames, pairs, 4, 9, 2, true, 0, 3);
  auto a = drain(inline_loader);
  auto b = drain(ahead);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].step, static_cast<std::int64_t>(i));
    EXPECT_TRUE(torch::equal(a[i].x0, b[i].x0)) << i;
    EXPECT_TRUE(torch::equal(a[i].x1, b[i].x1)) << i;
  }
  EXPECT_EQ(a[2].x0.size(0), 3);
  EXPECT_EQ(a[0].x0.sizes(), torch::IntArrayRef({4, 3, 64, 64}));
}

TEST(Loader, StartingMidEpochGivesTheSameLaterBatches) {
  auto frames = test::synthetic_frames(20);
  auto pairs = PsmSampler(frames.size(), 1).epoch_pairs(1);
  BatchLoader full(frames, pairs, 3, 1, 1, true, 0, 2);
  BatchLoader resumed(frames, pairs, 3, 1, 1, true, 2, 2);
  auto a = drain(full);
  auto b = drain(resumed);
  ASSERT_EQ(b.size() + 2, a.size());
  for (std::size_t i = 0; i < b.size(); ++i) EXPECT_TRUE(torch::equal(a[i + 2].x0, b[i].x0));
}

TEST(Loader, EpochsAndSeedsChangeTheAugmentation) {
  auto frames = test::synthetic_frames(8);
  std::vector<Pair> pairs = {{0, 1}, {2, 3}};
  auto b1 = make_batch(frames, pairs, 2, 0, 1, 1, true);
  EXPECT_FALSE(torch::equal(b1.x0, make_batch(frames, pairs, 2, 0, 1, 2, true).x0));
  EXPECT_FALSE(torch::equal(b1.x0, make_batch(frames, pairs, 2, 0, 2, 1, true).x0));
  EXPECT_TRUE(torch::equal(b1.x0, make_batch(frames, pairs, 2, 0, 1, 1, true).x0));
  // Without augmentation a batch is the eval view of its frames.
  auto plain = make_batch(frames, pairs, 2, 0, 1, 1, false);
  auto again = make_batch(frames, pairs, 2, 0, 7, 9, false);
  EXPECT_TRUE(torch::equal(plain.x1, again.x1));
}

TEST(Loader, StoppingEarlyJoinsTheThread) {
  auto frames = test::synthetic_frames(40);
  auto pairs = PsmSampler(frames.size(), 1).epoch_pairs(1);
  BatchLoader loader(frames, pairs, 2, 1, 1, true, 0, 2);
  ASSERT_TRUE(loader.next().has_value());
  // Destruction with batches still queued must not hang or crash.
}
