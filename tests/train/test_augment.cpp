#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "psmflow/train/augment.hpp"
#include "synthetic_face.hpp"

using namespace psmflow::train;

namespace {
constexpr int kN = 3 * kImageSize * kImageSize;

std::vector<float> augmented(const std::vector<std::uint8_t>& img, int size, unsigned long long seed,
                             const AugmentParams& p = {}) {
  std::mt19937_64 rng(seed);
  std::vector<float> out(kN);
  augment_image(img.data(), size, rng, out.data(), p);
  return out;
}
}  // namespace

TEST(Augment, SameSeedSameImageOtherSeedOtherImage) {
  auto img = psmflow::test::synthetic_face(64, 3);
  EXPECT_EQ(augmented(img, 64, 11), augmented(img, 64, 11));
  int differing = 0;
  for (unsigned long long s = 12; s < 20; ++s) differing += augmented(img, 64, 11) != augmented(img, 64, s);
  EXPECT_GE(differing, 7);
}

TEST(Augment, ValuesStayWithinNormalisedRange) {
  auto img = psmflow::test::synthetic_face(64, 5);
  for (unsigned long long s = 0; s < 30; ++s) {
    auto out = augmented(img, 64, s);
    for (int c = 0; c < 3; ++c) {
      auto [lo, hi] = std::minmax_element(out.begin() + c * kN / 3, out.begin() + (c + 1) * kN / 3);
      EXPECT_GE(*lo, (0.f - kMean[c]) / kStd[c] - 1e-5f);
      EXPECT_LE(*hi, (1.f - kMean[c]) / kStd[c] + 1e-5f);
    }
  }
}

TEST(Augment, IdentityParametersGiveTheEvalImage) {
  auto img = psmflow::test::synthetic_face(64, 7);
  AugmentParams none;
  none.scale_min = none.scale_max = 1.0;
  none.ratio_min = none.ratio_max = 1.0;
  none.jitter_p = 0;
  none.flip_p = 0;
  std::vector<float> eval(kN);
  eval_image(img.data(), 64, eval.data());
  EXPECT_EQ(augmented(img, 64, 3, none), eval);
}

TEST(Augment, EvalNormalisesAndFlips) {
  std::vector<std::uint8_t> img(64 * 64 * 3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      img[(y * 64 + x) * 3 + 0] = static_cast<std::uint8_t>(x * 4);
      img[(y * 64 + x) * 3 + 1] = 128;
      img[(y * 64 + x) * 3 + 2] = 255;
    }
  std::vector<float> out(kN), flipped(kN);
  eval_image(img.data(), 64, out.data());
  eval_image(img.data(), 64, flipped.data(), true);
  EXPECT_NEAR(out[0 * 4096 + 5 * 64 + 10], (40 / 255.f - kMean[0]) / kStd[0], 1e-6);
  EXPECT_NEAR(out[1 * 4096 + 9], (128 / 255.f - kMean[1]) / kStd[1], 1e-6);
  EXPECT_NEAR(out[2 * 4096 + 9], (1.f - kMean[2]) / kStd[2], 1e-6);
  EXPECT_EQ(flipped[5 * 64 + 10], out[5 * 64 + 53]);
}

TEST(Augment, LargerFramesAreResizedTo64) {
  auto img = psmflow::test::synthetic_face(96, 1);
  std::vector<float> eval(kN);
  eval_image(img.data(), 96, eval.data());
  auto out = augmented(img, 96, 4);
  // Both are 64x64 views of the same face: close on average, not equal.
  double diff = 0;
  for (int i = 0; i < kN; ++i) diff += std::abs(out[i] - eval[i]);
  EXPECT_LT(diff / kN, 0.5);
  EXPECT_GT(diff / kN, 0.0);
}
