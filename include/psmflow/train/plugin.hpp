// The LibTorch half of psmflow (model, train, GM) is a plugin, libpsmflow_torch.so, loaded only
// by the commands that train or embed. LibTorch's start-up costs every process that links it
// about 0.4 s and 150 MB, which preprocess, evaluate, status and collect have no use for.
#pragma once
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/core/build_info.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"
#include "psmflow/train/stage.hpp"

namespace psmflow {
namespace train {
std::vector<BuildEntry> torch_build_info();  // defined in the plugin (src/train/torch_build_info.cpp)
}

struct TorchPlugin {
  int (*train_subject)(const Config&, const RunDir&, Manifest&, const train::TrainRequest&);
  int (*embed_subject)(const Config&, const RunDir&, Manifest&, const train::EmbedRequest&);
  int (*run_gm_training)(const Config&, const RunDir&, Manifest&);
  std::vector<BuildEntry> (*torch_build_info)();  // LibTorch, CUDA, NCCL
};

// Loads the plugin from the folder of libpsmflow.so on first use; throws naming the file and the
// loader's reason when it cannot.
const TorchPlugin& torch_plugin();

// build_info(), then where the data folder and the plugin are, then the plugin's LibTorch, CUDA and
// NCCL entries, or "not loaded" with the reason: what `psmflow --version` and provenance.json list.
std::vector<BuildEntry> describe_build();

}  // namespace psmflow
