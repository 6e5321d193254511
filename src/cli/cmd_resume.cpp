#include "cli/command.hpp"

namespace psmflow::cli {

Command add_resume(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("resume", "Resubmit only what is not done (not built yet: issue 6, Slurm)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("resume", "issue 6, Slurm"); }};
}

}  // namespace psmflow::cli
