// psmflow: one binary, one subcommand per stage or job (PRODUCT.md "Command line").
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/openmp.hpp"
#include "psmflow/train/plugin.hpp"

using namespace psmflow;

namespace {

// Loads the LibTorch plugin to report its versions (about 0.2 s); says "not loaded" when it cannot.
std::string version_text() {
  std::string out;
  for (const BuildEntry& e : describe_build()) out += e.name + ": " + e.value + "\n";
  out.pop_back();  // CLI11 adds the last newline
  return out;
}

// Commands that answer at once and compute nothing: they skip the re-execution that limits
// OpenMP's spinning (it doubles a command's start-up, 0.15 s to 0.31 s).
bool quick_command(int argc, char** argv) {
  if (argc < 2) return true;
  const std::string first = argv[1];
  for (const char* quick : {"help", "-h", "--help", "--version", "status", "submit", "resume"})
    if (first == quick) return true;
  return false;
}

int run_command(const cli::Command& c) {
  try {
    return c.run();
  } catch (const UsageError& e) {
    spdlog::error("{}", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitStageFailed;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!quick_command(argc, argv)) limit_openmp_spinning(argv);
  CLI::App app{"psmflow: facial videos of many people to Person-Specific Models, a General Model "
               "and one evaluation report, on a workstation or a Slurm cluster.",
               "psmflow"};
  app.set_version_flag("--version", version_text, "Name the build: psmflow version and commit, data folder, plugin, "
                                                   "LibTorch, CUDA, NCCL, MPI, OpenCV and HDF5 versions");
  app.require_subcommand(1);
  app.fallthrough();
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "More log output (-vv: debug)");
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "Warnings and errors only");

  std::vector<cli::Command> commands = {
      cli::add_demo(app),       cli::add_synth(app),  cli::add_run(app),      cli::add_submit(app),
      cli::add_status(app),     cli::add_resume(app), cli::add_preprocess(app), cli::add_train(app),
      cli::add_embed(app),      cli::add_evaluate(app), cli::add_collect(app)};

  std::string help_for;
  CLI::App* help = app.add_subcommand("help", "Show the help of a command: psmflow help CMD");
  help->add_option("command", help_for, "Command to document");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  init_console_logging(quiet ? -1 : verbosity);

  if (*help) {
    if (help_for.empty()) {
      std::cout << app.help();
      return kExitOk;
    }
    for (const auto& c : commands)
      if (c.app->get_name() == help_for) {
        std::cout << c.app->help();
        return kExitOk;
      }
    std::cerr << "psmflow help: no command '" << help_for << "'\n" << app.help();
    return kExitUsage;
  }
  for (const auto& c : commands)
    if (c.app->parsed()) return run_command(c);
  return kExitUsage;
}
