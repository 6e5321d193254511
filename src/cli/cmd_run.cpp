#include "cli/command.hpp"

namespace psmflow::cli {

Command add_run(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("run", "Run the whole pipeline in one allocation (under mpirun: master/worker) (not built yet: issue 5, distributed execution)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("run", "issue 5, distributed execution"); }};
}

}  // namespace psmflow::cli
