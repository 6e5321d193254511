// bf16 mixed precision (model/precision.hpp): the convolutions run in bf16, the loss terms reduce
// in float32, the gradients of the float32 weights stay float32 and close to the fp32 ones, and
// fp32 inside a scope is bit-identical to no scope at all.
#include <gtest/gtest.h>

#include "model_test_util.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/model/facecycle.hpp"
#include "psmflow/model/loss.hpp"
#include "psmflow/model/precision.hpp"
#include "support/test_support.hpp"

namespace psmflow::model {
namespace {

struct Step {
  LossTerms terms;
  std::vector<torch::Tensor> grads;
};

// One loss + backward of the tiny preset (generator noise off) from weights seeded by `seed`.
Step run_step(Precision p, bool with_vgg, std::uint64_t seed = 7) {
  torch::manual_seed(seed);
  FaceCycle net(preset_by_name("tiny"));
  if (with_vgg) {
    test::ScratchDir dir;
    test::save_tensor_dict(dir / "vgg.pt", test::random_vgg_weights());
    net->load_vgg_weights(dir / "vgg.pt");
  }
  net->set_noise_enabled(false);
  auto x0 = torch::randn({2, 3, 64, 64}), x1 = torch::randn({2, 3, 64, 64});
  Step s;
  {
    PrecisionScope mixed(p, torch::kCPU);
    s.terms = net->loss(x0, x1, 1.0);
  }
  s.terms.total.backward();
  for (auto& param : net->trainable_parameters()) s.grads.push_back(param.grad().clone());
  return s;
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>() + 1e-30);
}

TEST(Precision, NamesAreFp32AndBf16Only) {
  EXPECT_EQ(precision_by_name("fp32"), Precision::fp32);
  EXPECT_EQ(precision_by_name("bf16"), Precision::bf16);
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
  EXPECT_THROW(precision_by_name("fp16"), UsageError);
}

TEST(Precision, Bf16ScopeRunsConvolutionsInBf16AndRestoresFp32After) {
  torch::manual_seed(1);
  FaceCycle net(preset_by_name("tiny"));
  auto x = torch::randn({2, 3, 64, 64});
  {
    PrecisionScope mixed(Precision::bf16, torch::kCPU);
    EXPECT_EQ(net->encoder()->forward(x).code.scalar_type(), torch::kBFloat16);
    // The loss reductions are float32 even on bf16 inputs, and equal to float32 on the cast values.
    auto a = torch::randn({2, 3, 64, 64}).to(torch::kBFloat16), b = torch::randn({2, 3, 64, 64}).to(torch::kBFloat16);
    auto s = ssim(a, b);
    EXPECT_EQ(s.scalar_type(), torch::kFloat);
    EXPECT_EQ(gram(a).scalar_type(), torch::kFloat);
    EXPECT_EQ(l1(a, b).scalar_type(), torch::kFloat);
    PrecisionScope nested(Precision::bf16, torch::kCPU);  // nesting is allowed
  }
  EXPECT_EQ(net->encoder()->forward(x).code.scalar_type(), torch::kFloat);
}

TEST(Precision, Fp32ScopeIsBitIdenticalToNoScope) {
  Step a = run_step(Precision::fp32, false);
  torch::manual_seed(7);
  FaceCycle net(preset_by_name("tiny"));
  net->set_noise_enabled(false);
  auto x0 = torch::randn({2, 3, 64, 64}), x1 = torch::randn({2, 3, 64, 64});
  auto plain = net->loss(x0, x1, 1.0);
  EXPECT_EQ(a.terms.total.item<float>(), plain.total.item<float>());
}

// bf16 keeps 8 bits of mantissa: each term within 2% of fp32, every gradient pointing the same way.
TEST(Precision, Bf16LossAndGradientsStayCloseToFp32) {
  for (bool with_vgg : {false, true}) {
    SCOPED_TRACE(with_vgg ? "with VGG (perceptual term on)" : "no VGG");
    Step f = run_step(Precision::fp32, with_vgg), b = run_step(Precision::bf16, with_vgg);
    for (auto [name, tf, tb] : {std::tuple{"total", f.terms.total, b.terms.total},
                                {"pixel", f.terms.pixel, b.terms.pixel},
                                {"ssim", f.terms.ssim, b.terms.ssim},
                                {"sym", f.terms.sym, b.terms.sym},
                                {"perc", f.terms.perc, b.terms.perc}}) {
      EXPECT_EQ(tb.scalar_type(), torch::kFloat) << name;
      EXPECT_NEAR(tb.item<double>(), tf.item<double>(), 0.02 * std::abs(tf.item<double>()) + 1e-6) << name;
    }
    ASSERT_EQ(f.grads.size(), b.grads.size());
    auto all_f = torch::cat([&] {
      std::vector<torch::Tensor> v;
      for (auto& g : f.grads) v.push_back(g.flatten());
      return v;
    }());
    auto all_b = torch::cat([&] {
      std::vector<torch::Tensor> v;
      for (auto& g : b.grads) v.push_back(g.flatten());
      return v;
    }());
    EXPECT_EQ(all_b.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::isfinite(all_b).all().item<bool>());
    EXPECT_GT(cosine(all_f, all_b), 0.99);
    int far = 0;
    for (size_t i = 0; i < f.grads.size(); ++i)
      if (f.grads[i].norm().item<double>() > 1e-8 && cosine(f.grads[i], b.grads[i]) < 0.9) ++far;
    EXPECT_EQ(far, 0) << "parameters whose bf16 gradient points elsewhere than fp32's";
  }
}

}  // namespace
}  // namespace psmflow::model
