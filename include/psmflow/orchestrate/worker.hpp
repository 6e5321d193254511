// A worker runs one subject's chain of stage commands, one child process after another, and
// reports how the chain ended. It never blocks: poll() advances it, so rank 0 can be master and
// worker at once.
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "psmflow/orchestrate/child.hpp"
#include "psmflow/pipeline/plan.hpp"

namespace psmflow::orchestrate {

struct WorkerSetup {
  fs::path exe = "/proc/self/exe";  // the psmflow binary the stage commands run
  fs::path config;                  // passed as --config
  fs::path run_dir;                 // passed as --run-dir (a --run-dir given to `run` reaches the stages)
  // Test hook (PSMFLOW_TEST_STAGE_CMD): a shell command run instead of the stage command, with the
  // stage command's arguments as "$@" and PSMFLOW_STAGE / PSMFLOW_SUBJECT / PSMFLOW_RANK /
  // PSMFLOW_ATTEMPT in its environment.
  std::string test_command;
  int threads = 1;                         // passed as --threads
  std::map<std::string, std::string> env;  // e.g. CUDA_VISIBLE_DEVICES for this rank's GPU
  fs::path output_dir;                     // children's stdout/stderr go to files here
  int rank = 0;
};

struct Assignment {
  std::string subject;
  int attempt = 1;
  int chain = 0;  // 0 = pipeline::subject_chain(), 1 = pipeline::gm_chain()
};

enum class ChainOutcome { done, failed, crashed, usage };
std::string to_string(ChainOutcome o);

struct ChainResult {
  std::string subject;
  int attempt = 1;
  int rank = 0;
  ChainOutcome outcome = ChainOutcome::done;
  std::string stage;  // record name of the stage that ended the chain early
  std::string error;  // how it ended, with the tail of the child's output
  long pid = 0;       // of the child that ended it
  std::string host;
  double seconds = 0;
  double gap_ms = -1;  // time from this worker's previous result to starting this chain; -1 for its first
};

std::string to_json(const Assignment& a);
Assignment assignment_from_json(const std::string& text);
std::string to_json(const ChainResult& r);
ChainResult result_from_json(const std::string& text);

// argv of one stage command (without the test hook).
std::vector<std::string> stage_argv(const WorkerSetup& setup, const pipeline::StageStep& step, const std::string& subject);

class Worker {
 public:
  explicit Worker(WorkerSetup setup);
  bool busy() const { return child_.has_value(); }
  void start(const Assignment& a);
  std::optional<ChainResult> poll();  // the result once the chain has ended

 private:
  void start_step();
  std::optional<ChainResult> finish(ChainOutcome outcome, const std::string& error);
  WorkerSetup setup_;
  Assignment current_;
  std::size_t step_ = 0;
  std::optional<Child> child_;
  fs::path output_;
  std::chrono::steady_clock::time_point chain_start_;
  std::optional<std::chrono::steady_clock::time_point> last_result_;
  double gap_ms_ = -1;
};

const std::vector<pipeline::StageStep>& chain_by_id(int id);

}  // namespace psmflow::orchestrate
