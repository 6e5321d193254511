#include <spdlog/sinks/sink.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <exception>

#include "command.hpp"
#include "psmflow/collectives/mpi.hpp"
#include "psmflow/orchestrate/run.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/eval/jobs.hpp"
#include "psmflow/core/log.hpp"

namespace psmflow::cli {
namespace {

struct RunArgs {
  std::string config;
  std::string shard;
  std::string stage = "all";
  int retries = 1;
  std::string run_dir;
  bool dry_run = false;
};

// A job file (jobs/) expands into training, embedding and evaluation steps run one after another
// on this machine, each a psmflow child process; a failed step skips only what depends on it.
int run_job(const RunArgs& a) {
  eval::JobSpec spec = eval::load_job(a.config);
  Config cfg = load_config(spec.config);
  if (!a.run_dir.empty()) cfg.run.run_dir = fs::absolute(a.run_dir);
  std::vector<eval::JobStep> steps = eval::expand_job(spec, cfg);
  std::unique_ptr<RunLock> lock;  // the steps, child processes, share it through PSMFLOW_RUN_LOCK
  if (!a.dry_run) {
    lock = lock_run_dir(cfg.run.run_dir, "run " + spec.file.string());
    RunDir::create(cfg);
    add_log_file(RunDir(cfg.run.run_dir).logs_dir(), "run-job");
  }
  spdlog::info("job {} ({}): {} steps on {}", spec.file.string(), spec.kind, steps.size(), cfg.run.run_dir.string());
  std::ostringstream log;
  eval::JobRunResult r = eval::run_job_steps(steps, fs::read_symlink("/proc/self/exe"), a.dry_run, log);
  std::cout << log.str();
  if (!r.failed.empty()) spdlog::error("job: {} step(s) failed, {} skipped", r.failed.size(), r.skipped.size());
  return r.exit_code;
}

// Rank 0 creates the run directory (freezing the config); the others wait and then open it.
void create_run_dir(const Config& cfg, int rank) {
  std::string error;
  if (rank == 0) try {
      RunDir::create(cfg);
    } catch (const std::exception& e) {
      error = e.what();
    }
  int failed = !error.empty();
  PSMFLOW_MPI(MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (failed) throw UsageError(rank == 0 ? error : "the run directory could not be created (see rank 0)");
}

int run_command(const RunArgs& a) {
  if (eval::is_job_file(a.config)) return run_job(a);
  collectives::MpiSession mpi;
  collectives::RankInfo info = collectives::rank_info(MPI_COMM_WORLD);
  Config cfg = load_config(a.config);
  if (!a.run_dir.empty()) cfg.run.run_dir = fs::absolute(a.run_dir);
  orchestrate::RunOptions opt;
  opt.config = fs::absolute(a.config);
  if (!a.shard.empty()) opt.shard = pipeline::parse_shard(a.shard);
  opt.stage = a.stage;
  opt.retries = a.retries;
  if (const char* hook = std::getenv("PSMFLOW_TEST_STAGE_CMD")) opt.test_command = hook;
  // Every rank presents the MPI job's token, so the ranks share the lock; the stage processes
  // they start inherit it.
  auto lock = lock_run_dir(cfg.run.run_dir, "run " + opt.config.string());
  create_run_dir(cfg, info.rank);
  add_log_file(RunDir(cfg.run.run_dir).logs_dir(), "run");
  // Only the master talks on the console; every rank keeps its full log file.
  if (info.rank != 0) spdlog::default_logger()->sinks().front()->set_level(spdlog::level::warn);
  try {
    return orchestrate::run_pipeline(cfg, opt, MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    // The other ranks would wait for this one forever: end the job (mpirun's exit is nonzero).
    if (info.world > 1) {
      spdlog::critical("rank {}: {}; aborting the job (rerun to resume)", info.rank, e.what());
      MPI_Abort(MPI_COMM_WORLD, kExitStageFailed);
    }
    throw;
  }
}

}  // namespace

Command add_run(CLI::App& root) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* sub = root.add_subcommand(
      "run",
      "Run the whole pipeline in one allocation. Under `mpirun -n K`, rank 0 is the master that hands subjects to "
      "workers (every rank runs stage commands as child processes); the GM trains on all ranks together.");
  sub->add_option("config", args->config, "Config file (TOML), or a job file from jobs/ (an experiment expanded into steps)")->required();
  sub->add_option("--shard", args->shard, "Only subjects i, i+N, ... of the id-sorted list (i/N, 0 <= i < N)");
  sub->add_option("--stage", args->stage,
                  "What to run: subject (preprocess, PSM, embed), gm, collect (GM "
                  "embeddings, evaluation, report) or all")
      ->check(CLI::IsMember({"subject", "gm", "collect", "all"}))
      ->capture_default_str();
  sub->add_option("--retries", args->retries, "Extra attempts after a stage command crashes or is killed")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  sub->add_option("--run-dir", args->run_dir, "Run directory (overrides [run] run_dir)");
  sub->add_flag("--dry-run", args->dry_run, "For a job file (jobs/): print the steps without running them");
  return {sub, [args] { return run_command(*args); }};
}

}  // namespace psmflow::cli
