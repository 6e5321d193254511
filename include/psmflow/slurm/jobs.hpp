// RUN_DIR/slurm/jobs.json: every submission round (submit, then each resume) with its job ids and
// which shard each array task runs. Written atomically; status and resume read it.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace psmflow::slurm {
namespace fs = std::filesystem;

struct ArrayJob {
  std::string job_id;
  std::vector<int> shards;  // task i runs shard shards[i]
};

struct Round {
  std::string kind;       // submit | resume
  std::string submitted;  // ISO 8601 UTC
  std::vector<ArrayJob> arrays;
  std::string gm;       // job id, empty when not submitted in this round
  std::string collect;  // job id, empty when not submitted in this round
  fs::path scripts;     // folder with this round's scripts
  std::vector<std::string> job_ids() const;  // arrays, GM, collector
};

struct JobsFile {
  fs::path config;  // the config file the jobs run with (absolute)
  int shard_count = 0;
  std::vector<Round> rounds;
  std::string run_lock;  // the submission's token of RUN_DIR/run.lock, shared by its jobs

  static fs::path path_in(const fs::path& run_dir) { return run_dir / "slurm" / "jobs.json"; }
  // nullopt when there is no jobs.json; UsageError naming the file when it is damaged.
  static std::optional<JobsFile> load(const fs::path& run_dir);
  void save(const fs::path& run_dir) const;

  // The newest array task that runs shard k ("123_4"), empty if never submitted.
  std::string task_of_shard(int k) const;
  std::string latest_gm() const;
  std::string latest_collect() const;
  // Every job id of every round, for one batched scheduler query.
  std::vector<std::string> all_job_ids() const;
};

}  // namespace psmflow::slurm

namespace psmflow {
struct Config;
namespace slurm {
// The config of a run: the frozen RUN_DIR/config.toml, read as if it sat at the original config's
// place (jobs.json "config") so that its relative paths mean what they meant at submission.
Config load_run_config(const fs::path& run_dir, const std::optional<JobsFile>& jobs);
}  // namespace slurm
}  // namespace psmflow
