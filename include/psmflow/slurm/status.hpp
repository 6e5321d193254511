// `psmflow status`: the manifest is the truth; the scheduler (one batched query per run) only
// tells whether a "running" record still has a live job behind it.
#pragma once
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/slurm/jobs.hpp"
#include "psmflow/slurm/scheduler.hpp"

namespace psmflow {
struct Config;

namespace slurm {

// Per-subject stages that an array task runs (phase 0 of the pipeline: `psmflow run --stage
// subject`); a shard is finished when all are done for all its subjects.
std::vector<std::string> shard_stages(const pipeline::Pipeline& pipe);

struct Problem {
  std::string subject;
  std::string stage;
  Status status = Status::failed;
  std::string error;
};

struct RunStatus {
  std::vector<std::string> subject_stages, run_stages;  // as the pipeline declares them, in order
  std::map<std::string, std::map<Status, int>> counts;  // stage -> status -> subjects
  std::map<std::string, Status> run_level;              // gm, collect
  std::vector<Problem> problems;                        // failed and interrupted, with errors
  std::vector<int> unfinished_shards;                   // some shard stage not done
  std::vector<int> active_shards;                       // task pending or running in the queue
  bool gm_active = false, collect_active = false;
  bool scheduler_checked = false;                 // jobs.json present and the scheduler answered
  std::map<std::string, std::string> job_states;  // task/job id -> state, from the one query
  int requeues = 0;                               // preemption / time-limit requeues (slurm/events.jsonl)
  std::vector<std::string> gave_up;               // jobs that hit max_requeues
  int subjects = 0, shards = 0;
};

RunStatus read_status(const Config& cfg, const Manifest& manifest, const std::optional<JobsFile>& jobs,
                      Scheduler* scheduler, const pipeline::Pipeline& pipe = pipeline::standard_pipeline());
std::string format_status(const RunStatus& s);
nlohmann::json status_json(const RunStatus& s);

// States in which a job will still run or is running.
bool is_active_state(const std::string& slurm_state);

}  // namespace slurm
}  // namespace psmflow
