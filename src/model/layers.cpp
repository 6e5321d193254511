#include "psmflow/model/layers.hpp"

#include "psmflow/model/precision.hpp"

namespace psmflow::model {
namespace F = torch::nn::functional;

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t k, int64_t stride, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding((k - 1) / 2).bias(bias));
}

torch::nn::LeakyReLU make_lrelu() {
  return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(kLeakySlope));
}

SelfAttentionImpl::SelfAttentionImpl(int64_t c)
    : g_(register_module("g", make_conv(c, c, 1))),
      theta_(register_module("theta", make_conv(c, c, 1))),
      phi_(register_module("phi", make_conv(c, c, 1))) {}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // The original's out = (phi · softmax_positions(theta)ᵀ) · softmax_channels(g), computed on
  // position-major rows [b, hw, c]: a free view of channels-last activations (the model's
  // layout), and the result comes back channels-last, so nothing is copied between layouts.
  auto rows = [&](const torch::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({b, h * w, c}); };
  auto g = torch::softmax(rows(g_(x)), 2);
  auto theta = torch::softmax(rows(theta_(x)), 1);
  auto s = torch::bmm(rows(phi_(x)).transpose(1, 2), theta);  // [b,c,c]
  auto out = torch::bmm(g, s.transpose(1, 2)).view({b, h, w, c}).permute({0, 3, 1, 2});
  return F::leaky_relu(x + out, F::LeakyReLUFuncOptions().negative_slope(kLeakySlope));
}

BasicBlockImpl::BasicBlockImpl(int64_t c)
    : conv1_(register_module("conv1", make_conv(c, c))), conv2_(register_module("conv2", make_conv(c, c))) {}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  const auto opt = F::LeakyReLUFuncOptions().negative_slope(kLeakySlope);
  return F::leaky_relu(conv2_(F::leaky_relu(conv1_(x), opt)) + x, opt);
}

Deconv4x2Impl::Deconv4x2Impl(int64_t in, int64_t out) {
  torch::nn::ConvTranspose2d init(torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1));
  weight = register_parameter("weight", init->weight.detach().clone());
  bias = register_parameter("bias", init->bias.detach().clone());
}

// Output row 2a+r of a k4 s2 p1 transposed convolution sums input rows a−1, a (r = 0; kernel
// rows 3, 1) or a, a+1 (r = 1; kernel rows 2, 0): a 2×2 convolution over the padded input.
torch::Tensor Deconv4x2Impl::forward(const torch::Tensor& x) {
  const auto n = x.size(0), h = x.size(2), w = x.size(3), out = weight.size(1);
  auto xp = F::pad(x, F::PadFuncOptions({1, 1, 1, 1}));
  auto wt = weight.transpose(0, 1);  // [out, in, 4, 4]
  std::vector<torch::Tensor> phases;
  for (int ry = 0; ry < 2; ++ry) {
    auto wr = wt.slice(2, 1 - ry, 4, 2).flip({2});  // kernel rows {3,1} or {2,0}
    for (int rx = 0; rx < 2; ++rx) {
      auto k = wr.slice(3, 1 - rx, 4, 2).flip({3});
      auto p = torch::conv2d(xp.slice(2, ry, ry + h + 1).slice(3, rx, rx + w + 1), k);
      phases.push_back(p.permute({0, 2, 3, 1}));  // NHWC view
    }
  }
  // Interleave in NHWC: [n,h,w,ry,rx,out] → [n,h,ry,w,rx,out] = [n,2h,2w,out]; returned as an
  // NCHW tensor in channels-last memory, the layout the next convolution wants.
  auto y =
      torch::stack(phases, 3).view({n, h, w, 2, 2, out}).permute({0, 1, 3, 2, 4, 5}).reshape({n, 2 * h, 2 * w, out});
  return y.permute({0, 3, 1, 2}) + bias.view({1, out, 1, 1});
}

torch::Tensor identity_grid(int64_t n, int64_t h, int64_t w, const torch::TensorOptions& options) {
  auto xs = torch::linspace(-1, 1, w, options);
  auto ys = torch::linspace(-1, 1, h, options);
  auto grid = torch::stack({xs.view({1, w}).expand({h, w}), ys.view({h, 1}).expand({h, w})}, 2);
  return grid.unsqueeze(0).expand({n, h, w, 2});
}

// Sampling runs in float32 also under bf16 autocast: bf16 grid coordinates near ±1 are 1/256
// apart, a quarter of a pixel at 64 px, and grid_sample is memory-bound anyway.
torch::Tensor sample(const torch::Tensor& x_in, const torch::Tensor& flow_in) {
  Fp32Region fp32;
  auto x = as_fp32(x_in), flow = as_fp32(flow_in);
  auto grid = identity_grid(x.size(0), x.size(2), x.size(3), x.options()) + flow.permute({0, 2, 3, 1});
  return F::grid_sample(
      x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(true));
}

torch::Tensor warp(const torch::Tensor& x, const torch::Tensor& flow, bool clamp) {
  auto f = as_fp32(flow);  // upsampled and sampled in float32, see sample()
  if (f.size(2) != x.size(2) || f.size(3) != x.size(3)) {
    f = F::interpolate(f, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                 .mode(torch::kBilinear)
                                 .align_corners(true));
  }
  return sample(x, clamp ? f.clamp(-1, 1) : f);
}

torch::Tensor backflow(const torch::Tensor& flow) { return -sample(flow, flow).clamp(-1, 1); }

torch::Tensor swap_halves(const torch::Tensor& t) {
  const auto b = t.size(0) / 2;
  return torch::cat({t.slice(0, b), t.slice(0, 0, b)});
}

}  // namespace psmflow::model
