// GM training (`psmflow train --mode gm|gm-ctl`), implemented by the dist part inside the LibTorch
// plugin; code outside the plugin reaches it through psmflow/train/plugin.hpp.
#pragma once
#include "psmflow/config/config.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow::train {

// Trains the GM with cfg.gm (mode gm or gm-ctl, overrides from the command line already applied)
// over the subjects of cfg. Returns the command's exit code (0, 1, or 3 = interrupted with a
// checkpoint, train/stop.hpp kExitInterrupted).
int run_gm_training(const Config& cfg, const RunDir& run, Manifest& manifest);

}  // namespace psmflow::train
