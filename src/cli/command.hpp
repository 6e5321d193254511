// Thin subcommands (CONTRIBUTING.md): each src/cli/cmd_<name>.cpp adds one subcommand to the
// root app and returns how to run it; the work itself lives in the library.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "psmflow/config/config.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"
#include "psmflow/store/run_lock.hpp"

namespace psmflow::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Options shared by the stage commands; each overrides the config value of the same meaning.
struct CommonOptions {
  std::string config;
  std::string run_dir;
  std::vector<std::string> subjects;
  int threads = -1;
};
void add_common_options(CLI::App* sub, CommonOptions& opt, bool with_subject = true);

// Takes RUN_DIR/run.lock for a command that writes the run directory (RunDirBusy = exit 2);
// a lock handed to Slurm is free once squeue shows none of its jobs.
std::unique_ptr<RunLock> lock_run_dir(const fs::path& run_dir, const std::string& command);

struct Session {
  std::unique_ptr<RunLock> lock;  // first: released after everything else
  Config cfg;
  RunDir run;
  Manifest manifest;
};
// Loads --config (or the built-in defaults) and applies the overrides; touches nothing on disk,
// so a command can refuse bad input before the run directory exists. Throws UsageError.
// subjects_on_command_line: the config may have no [data] subjects (preprocess --input adds one).
Config session_config(const CommonOptions& opt, bool subjects_on_command_line = false);
// Creates the run directory, takes its lock and starts this command's log file.
Session open_session(Config cfg, const std::string& command);

// A --subject that is no safe path component (core/ids.hpp) is a UsageError naming it.
void check_subject_ids(const std::vector<std::string>& ids);
// --subject (checked), else the config's subjects; none is a UsageError naming the command.
std::vector<std::string> subject_ids(const CommonOptions& opt, const Config& cfg, const std::string& command);

// --accept-unfinished-inputs: a stage refuses inputs whose record is not done unless given.
void add_accept_unfinished(CLI::App* sub, bool& accept);

Command add_demo(CLI::App& root);
Command add_synth(CLI::App& root);
Command add_run(CLI::App& root);
Command add_submit(CLI::App& root);
Command add_status(CLI::App& root);
Command add_resume(CLI::App& root);
Command add_preprocess(CLI::App& root);
Command add_train(CLI::App& root);
Command add_embed(CLI::App& root);
Command add_evaluate(CLI::App& root);
Command add_collect(CLI::App& root);

}  // namespace psmflow::cli
