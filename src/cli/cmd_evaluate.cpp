#include "cli/command.hpp"

namespace psmflow::cli {

Command add_evaluate(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("evaluate", "Score one subject's embeddings (F1, clusters, baselines) (not built yet: issue 7, evaluation)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("evaluate", "issue 7, evaluation"); }};
}

}  // namespace psmflow::cli
