// Every value of shared/testvectors/loss.json, reproduced to 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model_test_util.hpp"
#include "psmflow/model/layers.hpp"
#include "psmflow/model/loss.hpp"
#include "support/test_support.hpp"

namespace psmflow::model {
namespace {
using test::pattern;
constexpr double kTol = 1e-5;

nlohmann::json vectors() {
  std::ifstream in(test::shared_dir() / "testvectors" / "loss.json");
  EXPECT_TRUE(in) << "missing shared/testvectors/loss.json";
  return nlohmann::json::parse(in);
}

double sin_fn(double v) { return std::sin(v); }
double cos_fn(double v) { return std::cos(v); }

TEST(LossVectors, Ssim) {
  auto j = vectors()["ssim"];
  auto x = pattern(2, 3, 64, 64, 0, sin_fn), y = pattern(2, 3, 64, 64, 0.3, sin_fn);
  EXPECT_NEAR(ssim(x, y).item<double>(), j["SSIM(x,y)"].get<double>(), kTol);
  EXPECT_NEAR((1 - ssim(x, y)).item<double>(), j["ssim_loss"].get<double>(), kTol);
  EXPECT_NEAR(ssim(x, x).item<double>(), 1.0, kTol);
}

TEST(LossVectors, Sym) {
  auto x = pattern(2, 3, 64, 64, 0, sin_fn);
  EXPECT_NEAR(sym(x).item<double>(), vectors()["sym"]["Sym(x)"].get<double>(), kTol);
  EXPECT_NEAR(sym(x.flip({3}) + x).item<double>(), 0.0, kTol);  // a mirror-symmetric image scores 0
}

TEST(LossVectors, GramMse) {
  auto a = pattern(2, 4, 8, 8, 0, sin_fn), b = pattern(2, 4, 8, 8, 0.5, cos_fn);
  const double want = vectors()["gram_mse"]["MSE(Gram(a),Gram(b))"].get<double>();
  EXPECT_NEAR(gram_mse(a, b).item<double>(), want, kTol);
  // The repeated-target form used by the perceptual term: three copies against one target.
  EXPECT_NEAR(gram_mse_repeated(torch::cat({a, a, a}), gram(b)).item<double>(), want, kTol);
  EXPECT_NEAR(gram_mse_repeated(torch::cat({a, b}), gram(b)).item<double>(), want / 2, kTol);
}

TEST(LossVectors, TrainingWarp) {
  auto j = vectors()["warp_train"];
  auto x = pattern(2, 3, 64, 64, 0, sin_fn);
  auto flow = pattern(2, 2, 16, 16, 1.0, sin_fn, 0.2);
  auto out = warp(x, flow);
  ASSERT_EQ(out.sizes(), x.sizes());
  EXPECT_NEAR(out.mean().item<double>(), j["mean"].get<double>(), kTol);
  EXPECT_NEAR(out[0][0][10][20].item<double>(), j["[0,0,10,20]"].get<double>(), kTol);
  EXPECT_NEAR(out[1][2][63][0].item<double>(), j["[1,2,63,0]"].get<double>(), kTol);
}

TEST(LossVectors, Backflow) {
  auto j = vectors()["backflow"];
  auto back = backflow(pattern(2, 2, 16, 16, 1.0, sin_fn, 0.2));
  EXPECT_NEAR(back.mean().item<double>(), j["mean"].get<double>(), kTol);
  EXPECT_NEAR(back[0][0][3][5].item<double>(), j["[0,0,3,5]"].get<double>(), kTol);
  EXPECT_NEAR(back[1][1][15][15].item<double>(), j["[1,1,15,15]"].get<double>(), kTol);
}

TEST(LossVectors, ZeroFlowWarpIsIdentity) {
  auto x = pattern(1, 3, 64, 64, 0, sin_fn);
  EXPECT_TRUE(torch::allclose(warp(x, torch::zeros({1, 2, 16, 16})), x, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(sample(x, torch::zeros({1, 2, 64, 64})), x, 1e-5, 1e-5));
}

TEST(LossVectors, TotalWeights) {
  auto one = torch::ones({});
  EXPECT_NEAR(total_loss(one, 2 * one, 3 * one, 4 * one).item<double>(), 0.01 + 2 + 4.5 + 20, 1e-6);
}

TEST(LossVectors, L1AndSwap) {
  auto a = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_NEAR(l1(a, torch::zeros(4)).item<double>(), 2.5, 1e-6);
  EXPECT_TRUE(torch::equal(swap_halves(a), torch::tensor({3.0f, 4.0f, 1.0f, 2.0f})));
}

}  // namespace
}  // namespace psmflow::model
