// Bucket layout and start order of the gradient sync (no MPI needed).
#include <gtest/gtest.h>

#include <stdexcept>

#include "psmflow/collectives/grad_buckets.hpp"

using namespace psmflow::collectives;

namespace {

// 7 parameters: float (4-byte) ones and one double (8-byte) in the middle.
std::vector<ParamShape> shapes() {
  return {{3, 0, 4}, {10, 0, 4}, {2, 0, 4}, {4, 1, 8}, {1, 0, 4}, {5, 0, 4}, {2, 0, 4}};
}

std::vector<std::size_t> params_of(const BucketLayout& L, std::size_t b) { return L.buckets[b].params; }

}  // namespace

TEST(GradBuckets, LastParametersFirstSmallFirstBucketOneTypePerBucket) {
  BucketLayout L = plan_buckets(shapes(), 12, 40);
  // From the last parameter: 6 (8 B) fits the 12-B first bucket, 5 (20 B) does not;
  // 5+4 = 24 B; 3 is a double: new bucket; 2+1 = 48 B > 40: 2 then 1 (40 B) alone, then 0.
  ASSERT_EQ(L.buckets.size(), 6u);
  EXPECT_EQ(params_of(L, 0), (std::vector<std::size_t>{6}));
  EXPECT_EQ(params_of(L, 1), (std::vector<std::size_t>{5, 4}));
  EXPECT_EQ(params_of(L, 2), (std::vector<std::size_t>{3}));
  EXPECT_EQ(params_of(L, 3), (std::vector<std::size_t>{2}));
  EXPECT_EQ(params_of(L, 4), (std::vector<std::size_t>{1}));
  EXPECT_EQ(params_of(L, 5), (std::vector<std::size_t>{0}));
  EXPECT_EQ(L.buckets[2].dtype, 1);
  EXPECT_EQ(L.buckets[2].bytes(), 32u);
  // Offsets: parameters lie one after the other inside their bucket.
  EXPECT_EQ(L.bucket_of[4], 1u);
  EXPECT_EQ(L.offset_of[5], 0);
  EXPECT_EQ(L.offset_of[4], 5);
  EXPECT_EQ(L.buckets[1].numel, 6);
}

TEST(GradBuckets, ParameterLargerThanTheCapGetsItsOwnBucket) {
  BucketLayout L = plan_buckets({{100, 0, 4}, {1, 0, 4}, {1, 0, 4}}, 1 << 20, 16);
  ASSERT_EQ(L.buckets.size(), 2u);
  EXPECT_EQ(params_of(L, 0), (std::vector<std::size_t>{2, 1}));
  EXPECT_EQ(params_of(L, 1), (std::vector<std::size_t>{0}));
  EXPECT_EQ(L.buckets[1].bytes(), 400u);
}

TEST(GradBuckets, BucketsStartOnlyInBucketOrderWhateverOrderGradientsArriveIn) {
  BucketLayout L = plan_buckets(shapes(), 12, 40);  // buckets as in the first test
  BucketReadiness r(L);
  r.mark_ready(0);  // bucket 5 is complete, but buckets 0..4 are not: nothing may start
  EXPECT_TRUE(r.take_startable().empty());
  r.mark_ready(4);
  EXPECT_TRUE(r.take_startable().empty());
  r.mark_ready(6);
  EXPECT_EQ(r.take_startable(), (std::vector<std::size_t>{0}));
  r.mark_ready(5);  // completes bucket 1
  r.mark_ready(2);  // completes bucket 3, which must wait for bucket 2
  EXPECT_EQ(r.take_startable(), (std::vector<std::size_t>{1}));
  r.mark_ready(3);
  EXPECT_EQ(r.take_startable(), (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(r.started(), 4u);
  // Parameter 1 never gets a gradient: the rest starts at the end, in order.
  EXPECT_FALSE(r.is_ready(1));
  EXPECT_EQ(r.take_rest(), (std::vector<std::size_t>{4, 5}));
  EXPECT_TRUE(r.take_rest().empty());
}

TEST(GradBuckets, SecondGradientInOneStepThrowsAndResetStartsAStep) {
  BucketLayout L = plan_buckets(shapes(), 12, 40);
  BucketReadiness r(L);
  r.mark_ready(6);
  EXPECT_THROW(r.mark_ready(6), std::logic_error);
  r.reset();
  EXPECT_FALSE(r.any_ready());
  r.mark_ready(6);
  EXPECT_EQ(r.take_startable(), (std::vector<std::size_t>{0}));
}
