#include "psmflow/model/networks.hpp"

#include <cmath>

namespace psmflow::model {
namespace nn = torch::nn;

namespace {

nn::ReLU relu() { return nn::ReLU(); }

nn::Upsample up2x() {
  return nn::Upsample(
      nn::UpsampleOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kBilinear).align_corners(true));
}

// Encoder and flow decoder init (METHOD.md §2): conv N(0, sqrt(2/(k·k·C_out))), Linear N(0, 0.01), biases 0.
void init_normal(nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      const auto& k = conv->options.kernel_size();
      const double n = static_cast<double>((*k)[0] * (*k)[1] * conv->options.out_channels());
      conv->weight.normal_(0, std::sqrt(2.0 / n));
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* linear = m->as<nn::Linear>()) {
      linear->weight.normal_(0, 0.01);
      linear->bias.zero_();
    }
  }
}

}  // namespace

EncoderImpl::EncoderImpl(const Preset& p) {
  const int c64 = p.ch(64), c128 = p.ch(128), c256 = p.ch(256);
  conv1_ = register_module("conv1",
                           nn::Sequential(make_conv(3, c64, 7, 2), make_lrelu(), make_conv(c64, c64), make_lrelu()));
  layer1_ = register_module("layer1", nn::Sequential(make_conv(c64, c64), make_lrelu(), SelfAttention(c64),
                                                     make_conv(c64, c64), make_lrelu()));
  layer2_1_ = register_module("layer2_1", nn::Sequential(make_conv(c64, c128, 3, 2), make_lrelu(), SelfAttention(c128),
                                                         make_conv(c128, c128), make_lrelu()));
  resblock1_ = register_module("resblock1", BasicBlock(c128));
  resblock2_ = register_module("resblock2", BasicBlock(c128));
  layer2_2_ = register_module(
      "layer2_2", nn::Sequential(make_conv(c128, c128, 3, 2), make_lrelu(), make_conv(c128, c128), make_lrelu()));
  layer3_1_ = register_module(
      "layer3_1", nn::Sequential(make_conv(c128, c256, 3, 2), make_lrelu(), make_conv(c256, c256), make_lrelu()));
  layer3_2_ = register_module("layer3_2",
                              nn::Sequential(make_conv(c256, c256), make_lrelu(), make_conv(c256, c128), make_lrelu()));
  expresscode_ = register_module("expresscode", nn::Sequential(nn::Linear(p.feature_dim(), p.mlp_hidden), make_lrelu(),
                                                               nn::Linear(p.mlp_hidden, p.code_dim)));
  init_normal(*this);
}

Embedding EncoderImpl::forward(const torch::Tensor& x) {
  auto h = layer2_1_->forward(layer1_->forward(conv1_->forward(x)));
  h = layer3_2_->forward(layer3_1_->forward(layer2_2_->forward(resblock2_(resblock1_(h)))));
  auto feature = h.flatten(1);
  return {torch::tanh(expresscode_->forward(feature)), feature};
}

FlowDecoderImpl::FlowDecoderImpl(const Preset& p) {
  const int c64 = p.ch(64), c128 = p.ch(128), c256 = p.ch(256);
  motiongen1_ = register_module("motiongen1",
                                nn::Sequential(make_conv(p.code_dim, 16 * c256, 1), nn::PixelShuffle(4), make_lrelu(),
                                               SelfAttention(c256), make_conv(c256, c256), make_lrelu()));
  motiongen2_ = register_module("motiongen2", nn::Sequential(up2x(), make_conv(c256, c128), make_lrelu(),
                                                             SelfAttention(c128), make_conv(c128, c128), make_lrelu()));
  resblock1_ = register_module("resblock1", BasicBlock(c128));
  resblock2_ = register_module("resblock2", BasicBlock(c128));
  toflow4_ = register_module("toflow4", nn::Sequential(up2x(), make_conv(c128, c64), make_lrelu(),
                                                       make_conv(c64, 2, 1, 1, false), nn::Tanh()));
  init_normal(*this);
  torch::NoGradGuard no_grad;  // the last two convolutions start smaller, as in the original
  toflow4_[1]->as<nn::Conv2d>()->weight.normal_(0, 0.05);
  toflow4_[3]->as<nn::Conv2d>()->weight.normal_(0, 0.05);
}

Flows FlowDecoderImpl::forward(const torch::Tensor& code) {
  auto h = motiongen2_->forward(motiongen1_->forward(code.view({code.size(0), code.size(1), 1, 1})));
  auto flow = toflow4_->forward(resblock2_(resblock1_(h)));
  return {flow, backflow(flow)};
}

GeneratorImpl::GeneratorImpl(const Preset& p) {
  const int c64 = p.ch(64), c128 = p.ch(128), c256 = p.ch(256);
  conv1_1_ = register_module("conv1_1", nn::Sequential(make_conv(3, c64), relu()));
  conv1_2_ = register_module("conv1_2", nn::Sequential(make_conv(c64, c64), relu()));
  conv2_1_ = register_module("conv2_1", nn::Sequential(make_conv(c64, c128), relu()));
  conv2_2_ = register_module("conv2_2", nn::Sequential(make_conv(c128, c128), relu()));
  conv3_1_ = register_module("conv3_1", nn::Sequential(make_conv(c128, c256), relu()));
  redconv_ = register_module("redconv", nn::Sequential(make_conv(c256, c256), relu()));
  cnn_ = register_module("cnn", nn::Sequential());
  for (int i = 0; i < p.generator_blocks; ++i) cnn_->push_back(BasicBlock(c256));
  auto deconv = [](int in, int out) { return Deconv4x2(in, out); };
  up_ = register_module("up", nn::Sequential(deconv(c256, c128), relu(), make_conv(c128, c128), relu()));
  up2_ = register_module("up2", nn::Sequential(deconv(2 * c128, c128), relu(), make_conv(c128, c128), relu()));
  torgb_ = register_module("torgb", make_conv(c128, 3));
  noise_encoding1_ =
      register_module("noise_encoding1", nn::Sequential(make_conv(c128, c128), relu(), make_conv(c128, c128), relu()));
  noise_encoding0_ =
      register_module("noise_encoding0", nn::Sequential(make_conv(c256, c256), relu(), make_conv(c256, c256), relu()));
}

StemFeatures GeneratorImpl::stem(const torch::Tensor& x) {
  auto h = torch::max_pool2d(conv1_2_->forward(conv1_1_->forward(x)), 2);
  auto feat2 = conv2_1_->forward(h);
  auto feat = conv3_1_->forward(torch::max_pool2d(conv2_2_->forward(feat2), 2));
  return {feat2, feat};
}

// The noise is drawn in float32 at every precision, so fp32 and bf16 runs see the same stream.
torch::Tensor GeneratorImpl::noised(const torch::Tensor& warped, const torch::Tensor& feat, nn::Sequential& encoder) {
  auto gap = feat.mean({2, 3}, true);
  auto in = noise_ ? torch::randn(feat.sizes(), feat.options().dtype(torch::kFloat)) + gap : gap.expand(feat.sizes());
  return warped + encoder->forward(in);
}

torch::Tensor GeneratorImpl::decode(const StemFeatures& s, const std::optional<torch::Tensor>& flow) {
  auto feat = s.feat, feat2 = s.feat2;
  if (flow) {  // noise for feat first, then feat2: the original's order, so seeded runs agree
    feat = noised(warp(feat, *flow, false), feat, noise_encoding0_);
    feat2 = noised(warp(feat2, *flow, false), feat2, noise_encoding1_);
  }
  auto h = up_->forward(cnn_->forward(redconv_->forward(feat)));
  return torgb_(up2_->forward(torch::cat({feat2, h}, 1)));
}

std::vector<torch::Tensor> GeneratorImpl::stem_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto* m : {&conv1_1_, &conv1_2_, &conv2_1_, &conv2_2_, &conv3_1_}) {
    for (auto& t : (*m)->parameters()) out.push_back(t);
  }
  return out;
}

void GeneratorImpl::set_stem_frozen(bool frozen) {
  for (auto& t : stem_parameters()) t.set_requires_grad(!frozen);
}

VggTrunkImpl::VggTrunkImpl() {
  features_ = register_module("features", nn::Sequential());
  const int64_t convs[][2] = {{3, 64},    {64, 64},   {64, 128},  {128, 128}, {128, 256},
                              {256, 256}, {256, 256}, {256, 256}, {256, 512}};
  int next_conv = 0;
  for (int i = 0; i <= 20; ++i) {
    if (i == 4 || i == 9 || i == 18) {
      features_->push_back(nn::MaxPool2d(2));
    } else if (next_conv < 9 && i == kVggTrunkConvs[next_conv]) {
      features_->push_back(make_conv(convs[next_conv][0], convs[next_conv][1]));
      ++next_conv;
    } else {
      features_->push_back(relu());
    }
  }
  for (auto& t : parameters()) t.set_requires_grad(false);
}

std::vector<torch::Tensor> VggTrunkImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> out;
  auto h = x;
  for (size_t i = 0; i <= 11; ++i) {
    h = (features_->begin() + i)->forward(h);
    if (i == 6 || i == 11) out.push_back(h);
  }
  out.push_back(from_relu3_1(h));
  return out;
}

torch::Tensor VggTrunkImpl::from_relu3_1(const torch::Tensor& relu3_1) {
  auto h = relu3_1;
  for (size_t i = 12; i <= 20; ++i) h = (features_->begin() + i)->forward(h);
  return h;
}

}  // namespace psmflow::model
