// Network sizes (presets) and the embedding type, shared by the model's headers.
#pragma once
#include <torch/torch.h>

#include <string>

namespace psmflow::model {

// Presets share the structure of METHOD.md §2; `paper` has its exact widths and parameter counts.
// small: channels /2, 4 generator blocks; tiny: channels /4, 2 generator blocks (the ¼-width
// network of METHOD.md §6, 1.37 M parameters). The MLP (2048→512→256 for paper) keeps its
// hidden width and code size; its input is the flattened (128/width_div)×4×4 feature.
struct Preset {
  std::string name;
  int width_div = 1;         // channel divisor (paper 1)
  int generator_blocks = 8;  // BasicBlocks in the generator decoder
  int code_dim = 256;
  int mlp_hidden = 512;     // hidden width of the encoder's MLP
  int feature_dim() const;  // pre-MLP feature length (2048 for paper)
  int ch(int paper_channels) const { return paper_channels / width_div; }
};
Preset preset_by_name(const std::string& name);  // throws UsageError on unknown

struct Embedding {
  torch::Tensor code;     // [n, code_dim]
  torch::Tensor feature;  // [n, feature_dim]
};

}  // namespace psmflow::model
