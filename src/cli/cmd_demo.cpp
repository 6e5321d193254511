// psmflow demo: synthesise a small cohort and run every stage that exists on this machine.
#include "cli/command.hpp"

namespace psmflow::cli {

Command add_demo(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("demo", "Synthesise a small cohort and run the whole pipeline on it");
  auto out = std::make_shared<std::string>("psmflow-demo");
  sub->add_option("--out", *out, "Run directory to create")->capture_default_str();
  return {sub, [] { return not_built_yet("demo", "issue 2, synthetic cohort"); }};
}

}  // namespace psmflow::cli
