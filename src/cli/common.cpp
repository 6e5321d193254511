#include <algorithm>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/ids.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/slurm/scheduler.hpp"
#include "psmflow/slurm/status.hpp"
#include "psmflow/train/provenance.hpp"

namespace psmflow::cli {

void add_common_options(CLI::App* sub, CommonOptions& opt, bool with_subject) {
  sub->add_option("--config", opt.config, "Config file (TOML); without it the built-in defaults apply");
  sub->add_option("--run-dir", opt.run_dir, "Run directory (overrides [run] run_dir)");
  if (with_subject) sub->add_option("--subject", opt.subjects, "Subject id (repeatable; default: all in the config)");
  sub->add_option("--threads", opt.threads, "CPU threads (overrides [run] threads; 0 = all allotted)");
}

std::unique_ptr<RunLock> lock_run_dir(const fs::path& run_dir, const std::string& command) {
  return RunLock::acquire(run_dir, command, [](const std::vector<std::string>& ids) {
    slurm::SlurmScheduler scheduler;
    auto states = scheduler.query(ids);
    if (!states) return true;  // Slurm does not answer: its jobs may still be working
    return std::any_of(states->begin(), states->end(),
                       [](const slurm::JobState& j) { return slurm::is_active_state(j.state); });
  });
}

Config session_config(const CommonOptions& opt, bool subjects_on_command_line) {
  Config cfg = opt.config.empty() ? default_config() : load_config(opt.config, true, !subjects_on_command_line);
  if (!opt.run_dir.empty()) cfg.run.run_dir = fs::absolute(opt.run_dir);
  if (opt.threads >= 0) cfg.run.threads = opt.threads;
  return cfg;
}

Session open_session(Config cfg, const std::string& command) {
  auto lock = lock_run_dir(cfg.run.run_dir, command);
  RunDir run = RunDir::create(cfg);
  add_log_file(run.logs_dir(), command);
  record_provenance(run, cfg);
  return Session{std::move(lock), std::move(cfg), run, Manifest(run)};
}

void check_subject_ids(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    std::string why = unsafe_id_reason(id);
    if (!why.empty()) throw UsageError("--subject '" + id + "': not a usable subject id: " + why);
  }
}

std::vector<std::string> subject_ids(const CommonOptions& opt, const Config& cfg, const std::string& command) {
  check_subject_ids(opt.subjects);
  std::vector<std::string> ids = opt.subjects;
  if (ids.empty())
    for (const auto& spec : cfg.data.subjects) ids.push_back(spec.id);
  if (ids.empty()) throw UsageError(command + ": no subject (give --subject ID or a config with subjects)");
  return ids;
}

void add_accept_unfinished(CLI::App* sub, bool& accept) {
  sub->add_flag("--accept-unfinished-inputs", accept,
                "Use inputs whose stage record is failed or interrupted (e.g. frames of a half-decoded video) "
                "instead of refusing them");
}

}  // namespace psmflow::cli
