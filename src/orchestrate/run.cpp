#include "psmflow/orchestrate/run.hpp"


#include <algorithm>
#include <chrono>
#include <thread>

#include "psmflow/collectives/mpi.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/placement.hpp"
#include "psmflow/train/plugin.hpp"
#include "psmflow/train/stop.hpp"

namespace psmflow::orchestrate {
namespace {

std::vector<std::string> config_subjects(const Config& cfg) {
  std::vector<std::string> ids;
  for (const auto& s : cfg.data.subjects) ids.push_back(s.id);
  return ids;
}

// Broadcasts an int decision from rank 0 without spinning.
int bcast_int(int value, MPI_Comm comm) {
  MPI_Request req;
  PSMFLOW_MPI(MPI_Ibcast(&value, 1, MPI_INT, 0, comm, &req));
  collectives::wait_polling(req);
  return value;
}

// Waits for a run-level child, passing a stop signal (SIGUSR2/SIGTERM) on to it once. Not by
// throwing as the workers do: the other ranks wait in a broadcast of this child's outcome.
ChildExit wait_passing_on_stop(Child child, const std::string& record) {
  bool passed = false;
  for (;;) {
    if (auto e = child.poll()) return *e;
    if (train::stop_requested() && !passed) {
      spdlog::warn("{}: passing {} on to the {} command (pid {})", record, signal_name(train::stop_signal()), record,
                   child.pid());
      child.signal_group(train::stop_signal());
      passed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A run-level stage (GM training under the test hook, collect) as one child process on rank 0.
int run_level_child(const WorkerSetup& setup, const std::vector<std::string>& args, const std::string& record) {
  ChildSpec spec;
  spec.argv = {setup.exe.string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = setup.env;
  if (!setup.test_command.empty()) {
    spec.argv[0] = "psmflow-stage";
    spec.argv.insert(spec.argv.begin(), {"/bin/sh", "-c", setup.test_command});
    spec.env["PSMFLOW_STAGE"] = record;
    spec.env["PSMFLOW_SUBJECT"] = kRunScope;
    spec.env["PSMFLOW_RANK"] = "0";
    spec.env["PSMFLOW_ATTEMPT"] = "1";
  }
  spec.output = setup.output_dir / (record + ".log");
  ChildExit e = wait_passing_on_stop(Child::spawn(spec), record);
  if (train::stop_requested()) {
    spdlog::warn("{}: stopped by {} ({})", record, signal_name(train::stop_signal()), e.describe());
    return train::kExitInterrupted;
  }
  if (e.ok()) return kExitOk;
  std::string error = e.describe();
  std::string tail = tail_lines(spec.output, 3);
  if (!tail.empty()) error += "; its output ended with: " + tail;
  spdlog::error("{}: {} [log {}]", record, error, spec.output.string());
  return !e.signaled && e.code == kExitUsage ? kExitUsage : kExitStageFailed;
}

struct GmDecision {
  bool run = false;
  std::string why;  // when not run
};

// The GM trains on the subjects whose frames are done, as a Slurm GM job does: one subject with a
// bad video does not withhold the GM and the report from the cohort (the trainer records which
// subjects it used, and the report lists the others with their reasons).
GmDecision decide_gm(const Config& cfg) {
  Manifest m{RunDir(cfg.run.run_dir)};
  std::vector<std::string> missing;
  for (const auto& id : config_subjects(cfg))
    if (!pipeline::stage_done(m, cfg, id, stage::preprocess)) missing.push_back(id);
  std::size_t total = cfg.data.subjects.size();
  if (missing.size() == total) return {false, "no subject has frames yet"};
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 10) list += ", ...";
    spdlog::warn("GM: training on the frames of {} of {} subjects; without frames: {}", total - missing.size(), total,
                 list);
  }
  return {true, ""};
}

int gm_phase(const Config& cfg, const RunOptions& opt, const WorkerSetup& setup, MPI_Comm comm, int rank) {
  GmDecision d;
  if (rank == 0) d = decide_gm(cfg);
  if (!bcast_int(d.run, comm)) {
    if (rank == 0) spdlog::error("GM not trained: {}", d.why);
    return kExitStageFailed;
  }
  if (!opt.test_command.empty()) {
    int rc = kExitOk;
    if (rank == 0)
      rc = run_level_child(
          setup, {"train", "--mode", cfg.gm.mode, "--config", opt.config.string(), "--run-dir", setup.run_dir.string()},
          stage::gm);
    return bcast_int(rc, comm);
  }
  RunDir run(cfg.run.run_dir);
  Manifest m(run);
  int rc = torch_plugin().run_gm_training(cfg, run, m);  // collective over MPI_COMM_WORLD
  // 3: stopped by a signal with a checkpoint (the trainer agrees on it across ranks).
  if (rc == train::kExitInterrupted) return train::stop_requested() ? train::kExitInterrupted : kExitStageFailed;
  return rc;
}

int collect_phase(const RunOptions& opt, const WorkerSetup& setup, MPI_Comm comm, int rank) {
  int rc = kExitOk;
  if (rank == 0) {
    spdlog::info("collect: writing the report");
    rc = run_level_child(setup, {"collect", "--config", opt.config.string(), "--run-dir", setup.run_dir.string()},
                         stage::collect);
  }
  return bcast_int(rc, comm);
}

// Subjects whose PSM chain is done, once the GM is.
std::vector<std::string> ready_for_gm_chain(const Config& cfg, const RunDir& run,
                                            const std::vector<std::string>& subjects) {
  Manifest m(run);
  std::vector<std::string> ready;
  if (pipeline::stage_done(m, cfg, kRunScope, stage::gm))
    for (const auto& id : subjects)
      if (pipeline::chain_done(m, cfg, id, pipeline::subject_chain())) ready.push_back(id);
  if (ready.size() < subjects.size())
    spdlog::warn("GM embeddings and evaluation: {} of {} subjects are ready (PSM chain and GM done)", ready.size(),
                 subjects.size());
  return ready;
}

int phase_exit(const PhaseSummary& s) {
  if (s.stopped) return kExitUsage;
  return s.failed > 0 ? kExitStageFailed : kExitOk;
}

std::string gap_stats(std::vector<double> g) {
  if (g.empty()) return "none";
  std::sort(g.begin(), g.end());
  return fmt::format("median {:.1f} ms, max {:.1f} ms over {}", g[g.size() / 2], g.back(), g.size());
}

void log_handover(const PhaseSummary& s) {
  if (s.gaps_ms.empty() && s.remote_gaps_ms.empty()) return;
  spdlog::info("hand-over (a worker's result to its next subject): other ranks {}; rank 0 {}",
               gap_stats(s.remote_gaps_ms), gap_stats(s.gaps_ms));
}

}  // namespace

WorkerSetup worker_setup(const Config& cfg, const RunOptions& opt, const RunDir& run, MPI_Comm comm) {
  collectives::RankInfo info = collectives::rank_info(comm);
  WorkerSetup s;
  s.exe = opt.exe;
  s.config = opt.config;
  s.run_dir = run.root();
  s.test_command = opt.test_command;
  s.threads = threads_per_rank(cfg.run.threads, info.local_size);
  s.rank = info.rank;
  s.output_dir = run.logs_dir() / "stages";
  if (cfg.run.device != "cpu")
    if (auto gpu = gpu_for_rank(node_local_rank(info.rank, info.local_rank))) s.env["CUDA_VISIBLE_DEVICES"] = gpu->id;
  return s;
}

namespace {

constexpr std::chrono::seconds kStopBarrierTimeout{120};

// A barrier that gives up after `timeout` (false), sleeping while it waits.
bool barrier_within(MPI_Comm comm, std::chrono::seconds timeout) {
  MPI_Request req;
  PSMFLOW_MPI(MPI_Ibarrier(comm, &req));
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int done = 0;
    PSMFLOW_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int run_phases(const Config& cfg, const RunOptions& opt, MPI_Comm comm) {
  collectives::RankInfo info = collectives::rank_info(comm);
  RunDir run(cfg.run.run_dir);
  WorkerSetup setup = worker_setup(cfg, opt, run, comm);
  if (info.rank == 0)
    spdlog::info("run {}: {} rank(s), {} thread(s) per stage command{}", run.root().string(), info.world, setup.threads,
                 setup.env.count("CUDA_VISIBLE_DEVICES") ? ", one GPU per rank" : "");
  std::vector<std::string> subjects = config_subjects(cfg);
  if (opt.shard) subjects = pipeline::shard_subjects(subjects, *opt.shard);
  bool all = opt.stage == "all";
  int exit = kExitOk;

  if (all || opt.stage == "subject") {
    PhaseSummary s = run_chain_phase(cfg, opt, setup, 0, subjects, comm);
    if (info.rank == 0) log_handover(s);
    exit = std::max(exit, phase_exit(s));
    if (s.stopped) return kExitUsage;
  }
  if (opt.shard && all) {
    if (info.rank == 0)
      spdlog::info("--shard: the GM and collect are run-level; run them with --stage gm and --stage collect");
    return exit;
  }
  if (all || opt.stage == "gm") {
    int rc = gm_phase(cfg, opt, setup, comm, info.rank);
    if (rc == kExitUsage) return kExitUsage;
    exit = std::max(exit, rc);
    if (rc != kExitOk) return exit;
  }
  if (all || opt.stage == "collect") {
    std::vector<std::string> ready;  // only the master's list is used
    if (info.rank == 0) ready = ready_for_gm_chain(cfg, run, subjects);
    // Subjects missing here failed upstream, where they were recorded (and their job shows it). The
    // collector alone (--stage collect, its own Slurm job) succeeds when it has embedded, evaluated
    // and reported what is there, the report listing what is missing; `status` shows the failures.
    if (bcast_int(info.rank == 0 && all && ready.size() < subjects.size(), comm))
      exit = std::max(exit, int(kExitStageFailed));
    PhaseSummary s = run_chain_phase(cfg, opt, setup, 1, ready, comm);
    exit = std::max(exit, phase_exit(s));
    if (s.stopped) return kExitUsage;
    if (!opt.shard) exit = std::max(exit, collect_phase(opt, setup, comm, info.rank));
  }
  return exit;
}

}  // namespace

int run_pipeline(const Config& cfg, const RunOptions& opt, MPI_Comm comm) {
  // SIGUSR2 (Slurm's warning before a time limit, through srun) and SIGTERM (scancel, mpirun) no
  // longer end this process at once: the workers pass them on to their stage children, which
  // checkpoint, and the run ends with 3 once they have exited.
  train::install_stop_handlers();
  try {
    return run_phases(cfg, opt, comm);
  } catch (const std::exception& e) {
    if (!train::stop_requested()) throw;
    spdlog::warn("{}; the run stops here (exit {}) and continues from its checkpoints when rerun", e.what(),
                 train::kExitInterrupted);
    // srun and mpirun signal every rank, and each ends here once its stage child has exited. A
    // signal that reached only some ranks would leave the others waiting for them forever: after a
    // while the job is ended instead (the stopped ranks' children have written their checkpoints).
    if (collectives::rank_info(comm).world > 1 && !barrier_within(comm, kStopBarrierTimeout)) {
      spdlog::critical("not every rank was stopped by the signal within {} s; ending the job",
                       kStopBarrierTimeout.count());
      MPI_Abort(comm, train::kExitInterrupted);
    }
    return train::kExitInterrupted;
  }
}

}  // namespace psmflow::orchestrate
