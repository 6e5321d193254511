#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/slurm/shards.hpp"
#include "psmflow/slurm/submit.hpp"

namespace psmflow::cli {
namespace {

struct ResumeOptions {
  std::string run_dir;
  bool dry_run = false;
};

// The config the jobs run with: the original file, which must still describe the same shards.
Config resume_config(const fs::path& root, const slurm::JobsFile& jobs, bool& changed) {
  Config cfg = load_config(jobs.config);
  cfg.run.run_dir = root;
  changed = read_file(root / "config.sha256") != cfg.hash;
  if (changed)
    spdlog::warn(
        "{} changed since the run was submitted: every shard is resubmitted and each stage redoes only "
        "what its settings change",
        jobs.config.string());
  int shards = static_cast<int>(slurm::plan_shards(cfg).size());
  if (shards != jobs.shard_count)
    throw UsageError(fmt::format("{}: now gives {} shards, the submitted run had {}; submit a new run instead",
                                 jobs.config.string(), shards, jobs.shard_count));
  return cfg;
}

int run_resume(const ResumeOptions& opt) {
  fs::path root = fs::absolute(opt.run_dir).lexically_normal();
  auto jobs = slurm::JobsFile::load(root);
  if (!jobs)
    throw UsageError(root.string() + ": no slurm/jobs.json, so this run was never submitted; use `psmflow submit`");
  bool changed = false;
  Config cfg = resume_config(root, *jobs, changed);
  slurm::SlurmScheduler scheduler;
  Manifest manifest{RunDir(root)};
  slurm::ResumePlan plan = slurm::plan_resume(slurm::read_status(cfg, manifest, jobs, &scheduler), changed);
  if (!plan.blocked.empty()) throw UsageError("resume " + root.string() + ": " + plan.blocked);
  if (plan.nothing_to_do()) {
    std::cout << "nothing to resume: every stage is done or still queued\n";
    return kExitOk;
  }
  std::cout << fmt::format("resuming shards [{}]{}{}\n", fmt::join(plan.shards, " "), plan.gm ? ", GM" : "",
                           plan.collect ? ", collector" : "");
  slurm::ScriptContext ctx = slurm::make_context(cfg, root);
  std::unique_ptr<RunLock> lock;
  if (!opt.dry_run) {
    scheduler.check_reachable();
    // The submission's token: its jobs that still run (other shards) share the lock with this round.
    if (!jobs->run_lock.empty()) ::setenv("PSMFLOW_RUN_LOCK", jobs->run_lock.c_str(), 1);
    lock = lock_run_dir(root, "resume");
    jobs->run_lock = ctx.run_lock = lock->token();
    add_log_file(root / "logs", "resume");
  }
  ctx.shard_count = jobs->shard_count;
  slurm::RoundRequest req{"resume", plan.shards, plan.gm, plan.collect, opt.dry_run, cfg.slurm.max_array_size};
  if (opt.dry_run && req.max_array_size == 0) req.max_array_size = 1001;
  slurm::Round round = slurm::submit_round(ctx, scheduler, req, *jobs, std::cout);
  if (lock) lock->hand_to_slurm(round.job_ids());
  return kExitOk;
}

}  // namespace

Command add_resume(CLI::App& root) {
  static ResumeOptions opt;
  CLI::App* sub = root.add_subcommand(
      "resume",
      "Resubmit only what is not done: shards with unfinished subjects as a fresh, smaller array, then "
      "the GM and the collector as needed; finished stages are skipped by their manifest records");
  sub->add_option("run_dir", opt.run_dir, "Run directory")->required();
  sub->add_flag("--dry-run", opt.dry_run, "Print the scripts and sbatch commands; submit nothing");
  return {sub, [] { return run_resume(opt); }};
}

}  // namespace psmflow::cli
