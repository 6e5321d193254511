#include "cli/command.hpp"

namespace psmflow::cli {

Command add_train(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("train", "Train a PSM (psm, psm-ctl) or the GM (gm, gm-ctl) (not built yet: issue 4, model and training)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("train", "issue 4, model and training"); }};
}

}  // namespace psmflow::cli
