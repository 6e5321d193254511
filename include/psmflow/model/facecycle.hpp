// The facial-motion cycle-consistency network of METHOD.md §2 and its loss (§3), in LibTorch.
// Contract between model (implements) and train/dist/embed (use). Torch-heavy: include only from
// torch sources.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "psmflow/model/networks.hpp"
#include "psmflow/model/preset.hpp"

namespace psmflow::model {

struct LossTerms {
  torch::Tensor total, pixel, perc, ssim, sym;  // scalars; total = 0.01 perc + pixel + 1.5 sym + 5 ssim
};

// Images of one cycle for sample grids (no grad): input X = cat[x0,x1], de-expressed (neutral)
// faces G(X, flow), reconstructions G(swap, backflow). ImageNet-normalised like the input.
struct CycleImages {
  torch::Tensor input, neutral, reconstruction;
};

// Encoder + flow decoder + generator (+ frozen perceptual VGG trunk when weights are given).
// Submodules: "encoder", "flow", "generator" and, after load_vgg_weights, "vgg" (frozen).
class FaceCycleImpl : public torch::nn::Module {
 public:
  explicit FaceCycleImpl(const Preset& preset);
  // x0, x1: ImageNet-normalised float [b,3,64,64]. neutral_weight: w_neu of METHOD.md §3.
  LossTerms loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight);
  Embedding embed(const torch::Tensor& x);  // eval-mode, no grad
  CycleImages cycle_images(const torch::Tensor& x0, const torch::Tensor& x1);
  // Parameters with requires_grad: everything but the frozen stem (when frozen) and VGG trunk.
  std::vector<torch::Tensor> trainable_parameters();
  bool has_perceptual() const;
  // Loads VGG19 weights (see docs/model.md: a torch.save'd dict holding torchvision's
  // features.{0,2,5,7,10,12,14,16,19}.{weight,bias}, e.g. vgg19(...).state_dict()).
  // Enables the perceptual term; for `paper` also loads and freezes the generator stem
  // (conv1_1..conv3_1). Narrower presets keep their own trainable stem.
  void load_vgg_weights(const std::filesystem::path& file);
  const Preset& preset() const;

  Encoder& encoder() { return encoder_; }
  FlowDecoder& flow() { return flow_; }
  Generator& generator() { return generator_; }
  // Test hook: the generator's N(0,1) noise off (deterministic G(X, flow)).
  void set_noise_enabled(bool on) { generator_->set_noise_enabled(on); }

 private:
  // outputs = cat[neu, sbwd, dbwd, recon]; stem_neu: the stem's features of neu when they equal
  // the trunk's relu2_1/relu3_1 (else undefined tensors).
  torch::Tensor perceptual(const torch::Tensor& x, const StemFeatures& stem_x, const torch::Tensor& neu,
                           const StemFeatures& stem_neu, const torch::Tensor& others);
  bool stem_equals_vgg();
  Preset preset_;
  Encoder encoder_{nullptr};
  FlowDecoder flow_{nullptr};
  Generator generator_{nullptr};
  VggTrunk vgg_{nullptr};
  bool warned_no_perceptual_ = false;
};
TORCH_MODULE(FaceCycle);

// Loads the original code's PyTorch checkpoint (dict of codegeneration / exptoflow /
// Swap_Generator state_dicts, see shared/testvectors/pytorch_state_dict_keys.txt) into net.
// Clears the gradients before a step by dropping them (PyTorch's zero_grad(set_to_none=True)):
// backward then keeps each new gradient as it is instead of zero-filling a tensor and adding to it.
void drop_gradients(const std::vector<torch::Tensor>& params);

// Reads the torch.save zip directly (no Python); "module." prefixes of DataParallel are dropped.
// Throws UsageError naming the file and the reason (not a checkpoint, missing key, shape).
void load_pytorch_checkpoint(FaceCycle& net, const std::filesystem::path& file);

}  // namespace psmflow::model
