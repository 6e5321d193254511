#include "cli/command.hpp"

namespace psmflow::cli {

Command add_submit(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("submit", "Write the Slurm scripts into the run directory and submit them (not built yet: issue 6, Slurm)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("submit", "issue 6, Slurm"); }};
}

}  // namespace psmflow::cli
