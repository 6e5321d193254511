// The entry point psmflow's core looks up in libpsmflow_torch.so (include/psmflow/torch_plugin.hpp).
#include "psmflow/dist/gm.hpp"
#include "psmflow/torch_plugin.hpp"
#include "psmflow/train/cpu_cache.hpp"
#include "psmflow/train/stage.hpp"

extern "C" const psmflow::TorchPlugin* psmflow_torch_plugin_v1() {
  psmflow::train::use_cpu_block_cache();
  static const psmflow::TorchPlugin plugin{&psmflow::train::train_subject, &psmflow::train::embed_subject,
                                           &psmflow::dist::run_gm_training};
  return &plugin;
}
