// The scheduler behind one interface so that tests can count and fake its calls (STYLE.md 8).
// SlurmScheduler runs sbatch / squeue / scontrol through a CommandRunner (argv, no shell).
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace psmflow::slurm {
namespace fs = std::filesystem;

struct CommandOutput {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
using CommandRunner = std::function<CommandOutput(const std::vector<std::string>& argv, const fs::path& cwd)>;
// fork/exec without a shell; exit_code 127 when the program is missing.
CommandOutput run_command(const std::vector<std::string>& argv, const fs::path& cwd);

// One array task or job as the scheduler sees it: id "123_4" (array task) or "125".
struct JobState {
  std::string id;
  std::string state;   // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
  std::string reason;  // squeue's reason
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Submits script with cwd as working directory; afterany on every id in after. Returns the job id.
  virtual std::string submit(const fs::path& script, const std::vector<std::string>& after, const fs::path& cwd) = 0;
  // ONE call for all jobs of a run; array tasks come back one by one. nullopt: scheduler unreachable.
  virtual std::optional<std::vector<JobState>> query(const std::vector<std::string>& job_ids) = 0;
  // The cluster's MaxArraySize (task indices must stay below it).
  virtual int max_array_size() = 0;
  // Before anything is written: throws UsageError when Slurm's commands are missing or its
  // controller does not answer.
  virtual void check_reachable() {}
};

class SlurmScheduler : public Scheduler {
 public:
  explicit SlurmScheduler(CommandRunner runner = run_command) : runner_(std::move(runner)) {}
  std::string submit(const fs::path& script, const std::vector<std::string>& after, const fs::path& cwd) override;
  std::optional<std::vector<JobState>> query(const std::vector<std::string>& job_ids) override;
  int max_array_size() override;
  void check_reachable() override;

 private:
  CommandRunner runner_;
};

// Parses `squeue -h -r -t all -o %i|%T|%r` output.
std::vector<JobState> parse_squeue(const std::string& out);
// Parses MaxArraySize from `scontrol show config`; 0 when absent.
int parse_max_array_size(const std::string& scontrol_config);

}  // namespace psmflow::slurm
