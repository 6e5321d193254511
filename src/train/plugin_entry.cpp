// The entry point psmflow's core looks up in libpsmflow_torch.so (include/psmflow/train/plugin.hpp).
#include "psmflow/train/gm.hpp"
#include "psmflow/train/plugin.hpp"
#include "psmflow/train/cpu_cache.hpp"
#include "psmflow/train/stage.hpp"

extern "C" const psmflow::TorchPlugin* psmflow_torch_plugin_v1() {
  psmflow::train::use_cpu_block_cache();
  static const psmflow::TorchPlugin plugin{&psmflow::train::train_subject, &psmflow::train::embed_subject,
                                           &psmflow::train::run_gm_training, &psmflow::train::torch_build_info};
  return &plugin;
}
