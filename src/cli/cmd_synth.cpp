#include "cli/command.hpp"

namespace psmflow::cli {

Command add_synth(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("synth", "Synthesise a cohort of face videos with AU labels in DISFA's format (not built yet: issue 2, synthetic cohort)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("synth", "issue 2, synthetic cohort"); }};
}

}  // namespace psmflow::cli
