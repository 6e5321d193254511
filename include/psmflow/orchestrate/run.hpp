// `psmflow run`: the whole pipeline over the ranks of an MPI communicator.
//   1. subject phase: rank 0 (master) hands subjects to workers (every rank, rank 0 included,
//      runs a Worker) largest input first; each subject's preprocess -> train -> embed runs as child
//      processes; crashed attempts are recorded interrupted and retried on another worker.
//   2. GM phase: all ranks train the General Model together, in-process (run_gm_training).
//   3. collect phase: GM embeddings + evaluation per subject (handed out the same way), then
//      `psmflow collect` on rank 0.
// A rank that dies ends the job through mpirun; rerunning resumes from the manifest.
#pragma once
#include <mpi.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/orchestrate/worker.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow::orchestrate {

struct RunOptions {
  fs::path config;  // absolute path of the config file (passed to every stage command)
  std::optional<pipeline::Shard> shard;
  std::string stage = "all";  // subject | gm | collect | all
  int retries = 1;            // extra attempts after a crash, kill or out-of-memory of a stage
  fs::path exe = "/proc/self/exe";
  std::string test_command;  // see WorkerSetup::test_command; also replaces GM training and collect
  std::chrono::milliseconds progress_interval{5000};
};

// Returns the exit status: 0 all done, 1 some subject or stage failed, 2 a stage command reported
// bad usage and the run stopped, 3 SIGTERM/SIGUSR2 stopped it after the running stages checkpointed.
int run_pipeline(const Config& cfg, const RunOptions& opt, MPI_Comm comm);

struct PhaseSummary {
  int total = 0;    // subjects in the phase
  int skipped = 0;  // already done before the run
  int done = 0;
  int failed = 0;
  int retried = 0;
  bool stopped = false;
  std::string stop_reason;
  // Hand-over per worker: its previous result to its next chain start. Rank 0's own worker is
  // started inside the master's loop; the others wait for a message.
  std::vector<double> gaps_ms, remote_gaps_ms;
  std::vector<std::string> failures;
};

// One phase of subject chains, collective over comm; the summary is complete on rank 0 and
// carries done/failed/stopped on every rank.
PhaseSummary run_chain_phase(const Config& cfg, const RunOptions& opt, const WorkerSetup& setup, int chain,
                             const std::vector<std::string>& subjects, MPI_Comm comm);

// Records a crashed stage attempt as interrupted (the child's own "running" record if it wrote one).
void record_interrupted(Manifest& m, const ChainResult& r);

// Per-process resources: threads per child (cores on this node split over its ranks, unless
// [run] threads is set) and CUDA_VISIBLE_DEVICES by local rank when GPUs exist.
WorkerSetup worker_setup(const Config& cfg, const RunOptions& opt, const RunDir& run, MPI_Comm comm);

}  // namespace psmflow::orchestrate
