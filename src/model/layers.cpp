#include "psmflow/model/layers.hpp"

namespace psmflow::model {
namespace F = torch::nn::functional;

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t k, int64_t stride, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding((k - 1) / 2).bias(bias));
}

torch::nn::LeakyReLU make_lrelu() { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(kLeakySlope)); }

SelfAttentionImpl::SelfAttentionImpl(int64_t c)
    : g_(register_module("g", make_conv(c, c, 1))),
      theta_(register_module("theta", make_conv(c, c, 1))),
      phi_(register_module("phi", make_conv(c, c, 1))) {}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const auto b = x.size(0), c = x.size(1);
  auto g = torch::softmax(g_(x).view({b, c, -1}), 1);
  auto theta = torch::softmax(theta_(x).view({b, c, -1}), 2).transpose(1, 2);
  auto s = torch::bmm(phi_(x).view({b, c, -1}), theta);  // [b,c,c]
  return F::leaky_relu(x + torch::bmm(s, g).view(x.sizes()), F::LeakyReLUFuncOptions().negative_slope(kLeakySlope));
}

BasicBlockImpl::BasicBlockImpl(int64_t c)
    : conv1_(register_module("conv1", make_conv(c, c))), conv2_(register_module("conv2", make_conv(c, c))) {}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  const auto opt = F::LeakyReLUFuncOptions().negative_slope(kLeakySlope);
  return F::leaky_relu(conv2_(F::leaky_relu(conv1_(x), opt)) + x, opt);
}

torch::Tensor identity_grid(int64_t n, int64_t h, int64_t w, const torch::TensorOptions& options) {
  auto xs = torch::linspace(-1, 1, w, options);
  auto ys = torch::linspace(-1, 1, h, options);
  auto grid = torch::stack({xs.view({1, w}).expand({h, w}), ys.view({h, 1}).expand({h, w})}, 2);
  return grid.unsqueeze(0).expand({n, h, w, 2});
}

torch::Tensor sample(const torch::Tensor& x, const torch::Tensor& flow) {
  auto grid = identity_grid(x.size(0), x.size(2), x.size(3), x.options()) + flow.permute({0, 2, 3, 1});
  return F::grid_sample(
      x, grid,
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(true));
}

torch::Tensor warp(const torch::Tensor& x, const torch::Tensor& flow, bool clamp) {
  auto f = flow;
  if (flow.size(2) != x.size(2) || flow.size(3) != x.size(3)) {
    f = F::interpolate(flow, F::InterpolateFuncOptions()
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
