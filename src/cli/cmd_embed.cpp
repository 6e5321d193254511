#include "cli/command.hpp"

namespace psmflow::cli {

Command add_embed(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("embed", "Write embeddings of every frame to embeddings.h5 (not built yet: issue 4, model and training)");
  sub->allow_extras();
  return {sub, [] { return not_built_yet("embed", "issue 4, model and training"); }};
}

}  // namespace psmflow::cli
