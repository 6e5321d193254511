// Building blocks of the FaceCycle network (METHOD.md §2): self-attention, basic block, the
// identity grid, sampling and warping. Module and parameter names follow the original code so
// that its state_dicts load with a plain rename (see interop.hpp).
#pragma once
#include <torch/torch.h>

namespace psmflow::model {

constexpr double kLeakySlope = 0.1;

// conv k×k with padding (k−1)/2, as every convolution of the network.
torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t k = 3, int64_t stride = 1, bool bias = true);
torch::nn::LeakyReLU make_lrelu();

// selfattention(C): out = LReLU(x + (φ(x)·softmax_N(θ(x))ᵀ)·softmax_C(g(x))).
class SelfAttentionImpl : public torch::nn::Module {
 public:
  explicit SelfAttentionImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d g_{nullptr}, theta_{nullptr}, phi_{nullptr};
};
TORCH_MODULE(SelfAttention);

// BasicBlock(C): LReLU(conv(LReLU(conv(x))) + x).
class BasicBlockImpl : public torch::nn::Module {
 public:
  explicit BasicBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(BasicBlock);

// ConvTranspose2d(in, out, k=4, stride=2, padding=1) with PyTorch's parameters and init
// (weight [in,out,4,4], bias [out]), computed as four 2×2 convolutions, one per output phase
// (row parity × column parity). Same result; LibTorch's CPU transposed convolution has no
// oneDNN path and was 1.6–3.5× slower than this in channels-last.
class Deconv4x2Impl : public torch::nn::Module {
 public:
  Deconv4x2Impl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
};
TORCH_MODULE(Deconv4x2);

// Identity sampling grid [n,h,w,2] (x then y) in normalised coordinates, align_corners=true.
torch::Tensor identity_grid(int64_t n, int64_t h, int64_t w, const torch::TensorOptions& options);
// grid_sample of x at identity + flow (flow [n,2,h,w] at x's size), bilinear, zero padding.
torch::Tensor sample(const torch::Tensor& x, const torch::Tensor& flow);
// warp(x, flow): flow upsampled bilinearly (align_corners) to x's size, clamped to [−1,1] when
// `clamp` (the training warp; the generator's internal warp does not clamp), then sampled.
torch::Tensor warp(const torch::Tensor& x, const torch::Tensor& flow, bool clamp = true);
// backflow = −clamp(sample(flow, flow), −1, 1).
torch::Tensor backflow(const torch::Tensor& flow);
// Halves of a batch of 2b exchanged: cat[t[b:], t[:b]].
torch::Tensor swap_halves(const torch::Tensor& t);

}  // namespace psmflow::model
