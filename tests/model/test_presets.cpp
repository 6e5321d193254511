// Shapes and parameter counts per preset; the paper preset matches the published counts.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "psmflow/core/error.hpp"
#include "psmflow/model/facecycle.hpp"
#include "support/test_support.hpp"

namespace psmflow::model {
namespace {

int64_t count(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (auto& t : ts) n += t.numel();
  return n;
}

TEST(Presets, PaperParameterCountsMatchTestVectors) {
  std::ifstream in(test::shared_dir() / "testvectors" / "loss.json");
  auto want = nlohmann::json::parse(in)["params"];
  FaceCycle net(preset_by_name("paper"));
  const int64_t stem = count(net->generator()->stem_parameters());
  EXPECT_EQ(count(net->encoder()->parameters()), want["encoder"].get<int64_t>());
  EXPECT_EQ(count(net->flow()->parameters()), want["flow_decoder"].get<int64_t>());
  EXPECT_EQ(count(net->generator()->parameters()) - stem, want["generator_trainable"].get<int64_t>());
  EXPECT_EQ(stem, want["generator_frozen_stem"].get<int64_t>());
  // Without VGG weights the stem trains too.
  EXPECT_EQ(count(net->trainable_parameters()), 4240000 + 2996544 + 12854147 + 555328);
  EXPECT_FALSE(net->has_perceptual());
}

TEST(Presets, SmallerPresetsKeepStructure) {
  // tiny is the ¼-width, 2-block network of METHOD.md §6 (1.37 M parameters).
  EXPECT_EQ(count(FaceCycle(preset_by_name("tiny"))->parameters()), 1369699);
  EXPECT_EQ(count(FaceCycle(preset_by_name("small"))->parameters()), 4611523);
  EXPECT_EQ(preset_by_name("paper").feature_dim(), 2048);
  EXPECT_EQ(preset_by_name("small").feature_dim(), 1024);
  EXPECT_EQ(preset_by_name("tiny").feature_dim(), 512);
  EXPECT_THROW(preset_by_name("huge"), UsageError);
}

TEST(Presets, ShapesOfEveryStage) {
  for (const char* name : {"tiny", "small"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(1);
    const auto p = preset_by_name(name);
    FaceCycle net(p);
    auto x = torch::randn({3, 3, 64, 64});
    auto e = net->embed(x);
    EXPECT_EQ(e.code.sizes(), (std::vector<int64_t>{3, p.code_dim}));
    EXPECT_EQ(e.feature.sizes(), (std::vector<int64_t>{3, p.feature_dim()}));
    EXPECT_LE(e.code.abs().max().item<float>(), 1.0f);  // tanh
    EXPECT_FALSE(e.code.requires_grad());
    auto flows = net->flow()->forward(e.code);
    EXPECT_EQ(flows.flow.sizes(), (std::vector<int64_t>{3, 2, 16, 16}));
    EXPECT_EQ(flows.back.sizes(), (std::vector<int64_t>{3, 2, 16, 16}));
    auto stem = net->generator()->stem(x);
    EXPECT_EQ(stem.feat2.sizes(), (std::vector<int64_t>{3, p.ch(128), 32, 32}));
    EXPECT_EQ(stem.feat.sizes(), (std::vector<int64_t>{3, p.ch(256), 16, 16}));
    EXPECT_EQ(net->generator()->forward(x, flows.flow).sizes(), x.sizes());
    EXPECT_EQ(net->generator()->forward(x, std::nullopt).sizes(), x.sizes());
    auto images = net->cycle_images(x.slice(0, 0, 1), x.slice(0, 1, 2));
    EXPECT_EQ(images.neutral.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
    EXPECT_EQ(images.reconstruction.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  }
}

TEST(Presets, LossTermsAreFiniteScalarsAndAddUp) {
  torch::manual_seed(2);
  FaceCycle net(preset_by_name("tiny"));
  auto t = net->loss(torch::randn({2, 3, 64, 64}), torch::randn({2, 3, 64, 64}), 1.0);
  for (auto* v : {&t.total, &t.pixel, &t.perc, &t.ssim, &t.sym}) {
    EXPECT_EQ(v->dim(), 0);
    EXPECT_TRUE(std::isfinite(v->item<double>()));
  }
  EXPECT_EQ(t.perc.item<double>(), 0.0);  // no VGG weights
  EXPECT_GT(t.pixel.item<double>(), 0.0);
  EXPECT_NEAR(
      t.total.item<double>(),
      0.01 * t.perc.item<double>() + t.pixel.item<double>() + 1.5 * t.sym.item<double>() + 5 * t.ssim.item<double>(),
      1e-4);
}

TEST(Presets, EncoderInitFollowsMethod) {
  torch::manual_seed(3);
  FaceCycle net(preset_by_name("paper"));
  auto params = net->named_parameters();
  // conv 3×3 with 128 outputs: std sqrt(2/(9·128)); Linear: 0.01; last flow convs: 0.05; biases 0.
  EXPECT_NEAR(params["encoder.layer2_2.2.weight"].std().item<double>(), std::sqrt(2.0 / (9 * 128)), 2e-4);
  EXPECT_NEAR(params["encoder.expresscode.0.weight"].std().item<double>(), 0.01, 2e-4);
  EXPECT_NEAR(params["flow.toflow4.1.weight"].std().item<double>(), 0.05, 1e-3);
  EXPECT_NEAR(params["flow.toflow4.3.weight"].std().item<double>(), 0.05, 1e-2);
  EXPECT_EQ(params["encoder.conv1.0.bias"].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(params["flow.motiongen1.3.g.bias"].abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace psmflow::model
