// Gradient reaches every trainable parameter and no frozen one, with and without VGG weights.
#include <gtest/gtest.h>

#include "model_test_util.hpp"
#include "psmflow/model/facecycle.hpp"
#include "support/test_support.hpp"

namespace psmflow::model {
namespace {

// Names of parameters whose gradient is missing or zero (trainable) or present (frozen).
std::vector<std::string> gradient_faults(FaceCycle& net) {
  std::vector<std::string> faults;
  for (auto& item : net->named_parameters()) {
    const auto& g = item.value().grad();
    const bool has = g.defined() && g.abs().sum().item<double>() > 0;
    if (item.value().requires_grad() != has) faults.push_back(item.key());
  }
  return faults;
}

TEST(Gradients, ReachEveryParameterWithoutVgg) {
  torch::manual_seed(4);
  FaceCycle net(preset_by_name("tiny"));
  net->loss(torch::randn({2, 3, 64, 64}), torch::randn({2, 3, 64, 64}), 1.0).total.backward();
  EXPECT_EQ(gradient_faults(net), std::vector<std::string>{});
  EXPECT_EQ(net->trainable_parameters().size(), net->parameters().size());  // the stem trains
}

}  // namespace
}  // namespace psmflow::model

namespace psmflow::model {
namespace {

TEST(Gradients, PaperWithVggFreezesStemAndTrunk) {
  torch::manual_seed(5);
  test::ScratchDir dir;
  test::save_tensor_dict(dir / "vgg.pt", test::random_vgg_weights());
  FaceCycle net(preset_by_name("paper"));
  net->load_vgg_weights(dir / "vgg.pt");
  ASSERT_TRUE(net->has_perceptual());
  auto t = net->loss(torch::randn({1, 3, 64, 64}), torch::randn({1, 3, 64, 64}), 1.0);
  EXPECT_GT(t.perc.item<double>(), 0.0);
  t.total.backward();
  EXPECT_EQ(gradient_faults(net), std::vector<std::string>{});
  for (auto& p : net->generator()->stem_parameters()) EXPECT_FALSE(p.requires_grad());
  int64_t trainable = 0;
  for (auto& p : net->trainable_parameters()) trainable += p.numel();
  EXPECT_EQ(trainable, 4240000 + 2996544 + 12854147);
}

TEST(Gradients, TinyWithVggKeepsItsStemTrainable) {
  torch::manual_seed(6);
  test::ScratchDir dir;
  test::save_tensor_dict(dir / "vgg.pt", test::random_vgg_weights());
  FaceCycle net(preset_by_name("tiny"));
  net->load_vgg_weights(dir / "vgg.pt");
  auto t = net->loss(torch::randn({1, 3, 64, 64}), torch::randn({1, 3, 64, 64}), 1.0);
  EXPECT_GT(t.perc.item<double>(), 0.0);
  t.total.backward();
  EXPECT_EQ(gradient_faults(net), std::vector<std::string>{});
  for (auto& p : net->generator()->stem_parameters()) EXPECT_TRUE(p.requires_grad());
}

}  // namespace
}  // namespace psmflow::model

namespace psmflow::model {
namespace {

// The phased 2×2-convolution form equals LibTorch's transposed convolution, values and gradients,
// in both memory layouts.
TEST(Layers, Deconv4x2EqualsConvTranspose) {
  torch::manual_seed(8);
  Deconv4x2 ours(6, 5);
  torch::nn::ConvTranspose2d ref(torch::nn::ConvTranspose2dOptions(6, 5, 4).stride(2).padding(1));
  {
    torch::NoGradGuard no_grad;
    ref->weight.copy_(ours->weight);
    ref->bias.copy_(ours->bias);
  }
  for (auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
    auto x = torch::randn({2, 6, 7, 9}).contiguous(format).requires_grad_(true);
    auto xr = x.detach().clone().requires_grad_(true);
    auto y = ours(x), yr = ref(xr);
    ASSERT_EQ(y.sizes(), yr.sizes());
    EXPECT_TRUE(torch::allclose(y, yr, 1e-5, 1e-5));
    auto g = torch::randn(y.sizes());
    (y * g).sum().backward();
    (yr * g).sum().backward();
    EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(ours->weight.grad(), ref->weight.grad(), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(ours->bias.grad(), ref->bias.grad(), 1e-4, 1e-5));
    ours->zero_grad();
    ref->zero_grad();
  }
}

}  // namespace
}  // namespace psmflow::model
