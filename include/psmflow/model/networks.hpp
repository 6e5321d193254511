// The three networks of METHOD.md §2 and the perceptual VGG19 trunk. Submodules carry the
// original code's names (codegeneration, exptoflow, Swap_Generator; torchvision's
// vgg19.features), so parameter names match theirs key for key.
#pragma once
#include <torch/torch.h>

#include <optional>

#include "psmflow/model/layers.hpp"
#include "psmflow/model/preset.hpp"

namespace psmflow::model {

// E: face → (256-d tanh code, pre-MLP feature). Original name: codegeneration.
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const Preset& p);
  Embedding forward(const torch::Tensor& x);  // code [n,code_dim], feature [n,feature_dim]

 private:
  torch::nn::Sequential conv1_, layer1_, layer2_1_, layer2_2_, layer3_1_, layer3_2_, expresscode_;
  BasicBlock resblock1_{nullptr}, resblock2_{nullptr};
};
TORCH_MODULE(Encoder);

struct Flows {
  torch::Tensor flow, back;  // [n,2,16,16]: flow and backflow
};

// F: code → flow (tanh) and backflow. Original name: exptoflow.
class FlowDecoderImpl : public torch::nn::Module {
 public:
  explicit FlowDecoderImpl(const Preset& p);
  Flows forward(const torch::Tensor& code);  // code [n,code_dim]

 private:
  torch::nn::Sequential motiongen1_, motiongen2_, toflow4_;
  BasicBlock resblock1_{nullptr}, resblock2_{nullptr};
};
TORCH_MODULE(FlowDecoder);

// Features of the generator's VGG stem: feat2 after conv2_1 (relu2_1), feat after conv3_1 (relu3_1).
struct StemFeatures {
  torch::Tensor feat2, feat;
};

// G: stem (VGG19 conv1_1..conv3_1) + noise encoders + decoder. Original name: Swap_Generator.
class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const Preset& p);
  StemFeatures stem(const torch::Tensor& x);
  // Decoder on stem features; with a flow the features are warped (unclamped) and noised.
  torch::Tensor decode(const StemFeatures& s, const std::optional<torch::Tensor>& flow);
  torch::Tensor forward(const torch::Tensor& x, const std::optional<torch::Tensor>& flow) {
    return decode(stem(x), flow);
  }
  std::vector<torch::Tensor> stem_parameters() const;
  void set_stem_frozen(bool frozen);
  // Test hook: with noise off, G(x, flow) adds NE(GAP(feat)) without N(0,1) noise.
  void set_noise_enabled(bool on) { noise_ = on; }

 private:
  torch::Tensor noised(const torch::Tensor& warped, const torch::Tensor& feat, torch::nn::Sequential& encoder);
  torch::nn::Sequential conv1_1_, conv1_2_, conv2_1_, conv2_2_, conv3_1_;
  torch::nn::Sequential noise_encoding0_, noise_encoding1_, redconv_, cnn_, up_, up2_;
  torch::nn::Conv2d torgb_{nullptr};
  bool noise_ = true;
};
TORCH_MODULE(Generator);

// VGG19 `features` to relu4_1 (indices as torchvision's, so keys are features.N.weight), frozen.
class VggTrunkImpl : public torch::nn::Module {
 public:
  VggTrunkImpl();
  // relu2_1, relu3_1, relu4_1 of x.
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  // relu4_1 from relu3_1 (to reuse relu2_1/relu3_1 computed elsewhere with the same weights).
  torch::Tensor from_relu3_1(const torch::Tensor& relu3_1);

 private:
  torch::nn::Sequential features_;
};
TORCH_MODULE(VggTrunk);

// Indices of the VGG19 `features` convolutions that form the generator stem, in stem order.
inline constexpr int kVggStemConvs[5] = {0, 2, 5, 7, 10};
// All convolutions of the trunk to relu4_1.
inline constexpr int kVggTrunkConvs[9] = {0, 2, 5, 7, 10, 12, 14, 16, 19};

}  // namespace psmflow::model
