// `psmflow submit` and `psmflow resume`: write one round of scripts into RUN_DIR/slurm/round-R/,
// submit array(s) -> GM (afterany: arrays) -> collector (afterany: arrays and GM), record jobs.json.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "psmflow/slurm/jobs.hpp"
#include "psmflow/slurm/scheduler.hpp"
#include "psmflow/slurm/script.hpp"
#include "psmflow/slurm/status.hpp"

namespace psmflow::slurm {

struct RoundRequest {
  std::string kind = "submit";  // submit | resume
  std::vector<int> shards;      // shards to run in the array(s)
  bool gm = true;
  bool collect = true;
  bool dry_run = false;    // print the scripts and sbatch commands; write and submit nothing
  int max_array_size = 0;  // 0 = ask the scheduler
};

// Runs one round; appends it to jobs (and saves jobs.json) unless dry_run.
Round submit_round(const ScriptContext& ctx, Scheduler& scheduler, const RoundRequest& req, JobsFile& jobs,
                   std::ostream& out);

// What resume resubmits: unfinished shards that are not in the queue, then GM and collector as needed.
struct ResumePlan {
  std::vector<int> shards;
  bool gm = false;
  bool collect = false;
  std::string blocked;  // non-empty: why nothing may be submitted now
  bool nothing_to_do() const { return shards.empty() && !gm && !collect; }
};
// config_changed: the config differs from the frozen one, so done records may be stale: every shard
// not in the queue is resubmitted and the stages themselves skip what their hashes prove done.
ResumePlan plan_resume(const RunStatus& s, bool config_changed = false);

}  // namespace psmflow::slurm
