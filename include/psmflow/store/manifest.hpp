// Per-(subject, stage) records, Snakemake-style: a "running" record is written when a stage
// starts and a "done" record with input/config hashes and output checksums when it finishes.
// A record counts as done only if its hashes match the current ones and its outputs are intact.
// Records are JSON files written atomically under RUN_DIR/manifest/<subject>/<stage>.json.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "psmflow/store/run_dir.hpp"

namespace psmflow {

enum class Status { pending, running, done, failed, interrupted };
std::string to_string(Status s);
Status status_from_string(const std::string& s);  // throws on unknown

// Subject id of run-level stages (gm, collect); user ids cannot start with '_'.
inline const std::string kRunScope = "_run";

// An output's checksum, with the size and modification time it had when hashed: a file whose
// size and mtime are unchanged is taken as intact, any other is hashed again (Snakemake's rule,
// at the cost of one hash of each output that was touched).
struct OutputSum {
  std::string sha256;
  unsigned long long size = 0;
  long long mtime_ns = 0;
};

struct Record {
  std::string subject;
  std::string stage;
  Status status = Status::pending;
  std::string started;   // ISO 8601 UTC
  std::string finished;  // empty while running
  double seconds = 0;
  std::string host;
  long pid = 0;
  int attempt = 0;  // 1 for the first try
  std::string error;
  std::string input_hash;
  std::string config_hash;
  std::map<std::string, OutputSum> outputs;    // path relative to RUN_DIR -> checksum
  std::map<std::string, std::string> details;  // stage-specific facts (e.g. frames kept)
};

class Manifest {
 public:
  explicit Manifest(RunDir run);

  std::optional<Record> get(const std::string& subject, const std::string& stage) const;
  void put(const Record& r);  // atomic
  std::vector<Record> all() const;  // every record, sorted by subject then stage
  std::vector<Record> records(const std::string& subject) const;  // one subject's, sorted by stage
  std::vector<std::string> subjects() const;  // every subject with a record, sorted, kRunScope left out

  // A running record from this host whose process is gone reads as interrupted.
  Status effective_status(const Record& r) const;
  // done, same hashes, outputs intact: same size and checksum (hashed again when the size or
  // mtime moved, or always if verify).
  bool is_done(const std::string& subject, const std::string& stage, const std::string& input_hash,
               const std::string& config_hash, bool verify = false) const;

  Record begin(const std::string& subject, const std::string& stage, const std::string& input_hash,
               const std::string& config_hash);
  void finish_done(Record& r, const std::vector<std::filesystem::path>& outputs,
                   std::map<std::string, std::string> details = {});
  void finish_failed(Record& r, const std::string& error, Status status = Status::failed);

  const RunDir& run() const { return run_; }

 private:
  std::filesystem::path record_path(const std::string& subject, const std::string& stage) const;
  RunDir run_;
};

enum class StageOutcome { skipped, done, failed };
struct StageResult {
  std::vector<std::filesystem::path> outputs;
  std::map<std::string, std::string> details;
};
// Runs work() unless the stage is already done with these hashes; records running -> done, or
// failed with the exception's text (StageError and std::exception alike) and returns failed.
StageOutcome run_stage(Manifest& m, const std::string& subject, const std::string& stage,
                       const std::string& input_hash, const std::string& config_hash,
                       const std::function<StageResult()>& work, bool force = false);

}  // namespace psmflow
