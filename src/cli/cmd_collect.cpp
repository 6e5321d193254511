#include "cli/command.hpp"

namespace psmflow::cli {

Command add_collect(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("collect", "Aggregate every subject's evaluation into RUN_DIR/report/ (not built yet: issue 7, evaluation)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("collect", "issue 7, evaluation"); }};
}

}  // namespace psmflow::cli
