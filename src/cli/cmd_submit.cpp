#include <iostream>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/slurm/shards.hpp"
#include "psmflow/slurm/submit.hpp"

namespace psmflow::cli {
namespace {

struct SubmitOptions {
  std::string config;
  std::string run_dir;
  bool dry_run = false;
};

int run_submit(const SubmitOptions& opt) {
  Config cfg = load_config(opt.config);
  if (!opt.run_dir.empty()) cfg.run.run_dir = fs::absolute(opt.run_dir);
  fs::path root = fs::absolute(cfg.run.run_dir).lexically_normal();
  auto existing = slurm::JobsFile::load(root);
  if (existing && !existing->rounds.empty() && !opt.dry_run)
    throw UsageError(slurm::JobsFile::path_in(root).string() + " already lists submitted jobs; use `psmflow resume " +
                     root.string() + "` to resubmit what is not done");
  slurm::ScriptContext ctx = slurm::make_context(cfg, root);
  auto shards = slurm::plan_shards(cfg);
  ctx.shard_count = static_cast<int>(shards.size());
  slurm::RoundRequest req;
  req.dry_run = opt.dry_run;
  req.max_array_size = cfg.slurm.max_array_size;
  for (const auto& s : shards) req.shards.push_back(s.index);
  slurm::SlurmScheduler scheduler;
  std::unique_ptr<RunLock> lock;
  if (!opt.dry_run) {
    scheduler.check_reachable();
    lock = lock_run_dir(root, "submit " + fs::absolute(opt.config).string());
    ctx.run_lock = lock->token();
    RunDir run = RunDir::create(cfg);
    add_log_file(run.logs_dir(), "submit");
  } else if (req.max_array_size == 0) {
    // Dry runs work without a cluster: Slurm's default limit stands in for the cluster's.
    req.max_array_size = 1001;
    std::cout << "# [slurm] max_array_size = 0: assuming Slurm's default MaxArraySize 1001 for this dry run\n";
  }
  slurm::JobsFile jobs{ctx.config_file, ctx.shard_count, {}, ctx.run_lock};
  slurm::Round round = slurm::submit_round(ctx, scheduler, req, jobs, std::cout);
  if (lock) lock->hand_to_slurm(round.job_ids());
  if (!opt.dry_run)
    std::cout << cfg.data.subjects.size() << " subjects in " << ctx.shard_count << " shards; job ids in "
              << slurm::JobsFile::path_in(root).string() << "; follow with `psmflow status " << root.string() << "`\n";
  return kExitOk;
}

}  // namespace

Command add_submit(CLI::App& root) {
  static SubmitOptions opt;
  CLI::App* sub = root.add_subcommand(
      "submit",
      "Write the Slurm scripts into RUN_DIR/slurm/ and submit them: an array over shards of subjects, the GM job "
      "(afterany: array) and the collector (afterany: both); job ids go to RUN_DIR/slurm/jobs.json");
  sub->add_option("config", opt.config, "Config file (TOML)")->required();
  sub->add_option("--run-dir", opt.run_dir, "Run directory (overrides [run] run_dir)");
  sub->add_flag("--dry-run", opt.dry_run, "Print the scripts and sbatch commands; write and submit nothing");
  return {sub, [] { return run_submit(opt); }};
}

}  // namespace psmflow::cli
