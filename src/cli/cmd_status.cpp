#include "cli/command.hpp"

namespace psmflow::cli {

Command add_status(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("status", "Per subject and stage: done / running / failed / pending (not built yet: issue 6, Slurm)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("status", "issue 6, Slurm"); }};
}

}  // namespace psmflow::cli
