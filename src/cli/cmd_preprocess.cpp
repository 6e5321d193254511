#include "cli/command.hpp"

namespace psmflow::cli {

Command add_preprocess(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("preprocess", "Videos or frame folders to aligned face crops in frames.h5 (not built yet: issue 3, preprocess)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("preprocess", "issue 3, preprocess"); }};
}

}  // namespace psmflow::cli
