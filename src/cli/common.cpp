#include <iostream>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/train/provenance.hpp"

namespace psmflow::cli {

void add_common_options(CLI::App* sub, CommonOptions& opt, bool with_subject) {
  sub->add_option("--config", opt.config, "Config file (TOML); without it the built-in defaults apply");
  sub->add_option("--run-dir", opt.run_dir, "Run directory (overrides [run] run_dir)");
  if (with_subject) sub->add_option("--subject", opt.subjects, "Subject id (repeatable; default: all in the config)");
  sub->add_option("--threads", opt.threads, "CPU threads (overrides [run] threads; 0 = all allotted)");
}

Session open_session(const CommonOptions& opt, const std::string& command) {
  Config cfg = opt.config.empty() ? default_config() : load_config(opt.config);
  if (!opt.run_dir.empty()) cfg.run.run_dir = fs::absolute(opt.run_dir);
  if (opt.threads >= 0) cfg.run.threads = opt.threads;
  RunDir run = RunDir::create(cfg);
  add_log_file(run.logs_dir(), command);
  record_provenance(run, cfg);
  return Session{std::move(cfg), run, Manifest(run)};
}

int not_built_yet(const std::string& command, const std::string& issue) {
  std::cerr << "psmflow " << command << ": not built yet (" << issue << ")\n";
  return kExitUsage;
}

}  // namespace psmflow::cli
