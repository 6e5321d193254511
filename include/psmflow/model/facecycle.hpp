// The facial-motion cycle-consistency network of METHOD.md §2 and its loss (§3), in LibTorch.
// Contract between model (implements) and train/dist/embed (use). Torch-heavy: include only from
// torch sources.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

namespace psmflow::model {

// Presets share the structure of METHOD.md §2; `paper` has its exact widths and parameter counts.
struct Preset {
  std::string name;
  int width_div = 1;        // channel divisor (paper 1)
  int generator_blocks = 8;  // BasicBlocks in the generator decoder
  int code_dim = 256;
  int feature_dim() const;  // pre-MLP feature length (2048 for paper)
};
Preset preset_by_name(const std::string& name);  // throws UsageError on unknown

struct LossTerms {
  torch::Tensor total, pixel, perc, ssim, sym;  // scalars; total = 0.01 perc + pixel + 1.5 sym + 5 ssim
};

struct Embedding {
  torch::Tensor code;     // [n, code_dim]
  torch::Tensor feature;  // [n, feature_dim]
};

// Encoder + flow decoder + generator (+ frozen perceptual VGG trunk when weights are given).
class FaceCycleImpl : public torch::nn::Module {
 public:
  explicit FaceCycleImpl(const Preset& preset);
  // x0, x1: ImageNet-normalised float [b,3,64,64]. neutral_weight: w_neu of METHOD.md §3.
  LossTerms loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight);
  Embedding embed(const torch::Tensor& x);  // eval-mode, no grad
  std::vector<torch::Tensor> trainable_parameters();
  bool has_perceptual() const;
  // Loads the frozen VGG19 stem + perceptual trunk from a user file; enables the perceptual term.
  void load_vgg_weights(const std::filesystem::path& file);
  const Preset& preset() const;
  // ... submodules are the implementer's choice
};
TORCH_MODULE(FaceCycle);

// Loads the original code's PyTorch checkpoint (dict of codegeneration / exptoflow /
// Swap_Generator state_dicts, see shared/testvectors/pytorch_state_dict_keys.txt) into net.
void load_pytorch_checkpoint(FaceCycle& net, const std::filesystem::path& file);

}  // namespace psmflow::model
