// What `psmflow run` has to do, decided without MPI: the shard of subjects, the chain of stage
// commands per subject, which subjects still have work, and the order they are handed out in.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/store/manifest.hpp"

namespace psmflow::pipeline {

// --shard i/N: subjects sorted by id, the ones at positions p with p mod N == i (0 <= i < N).
struct Shard {
  int index = 0;
  int count = 1;
};
Shard parse_shard(const std::string& text);  // throws UsageError on anything but "i/N"
std::vector<std::string> shard_subjects(std::vector<std::string> ids, const Shard& shard);

// One stage command of a subject's chain: `psmflow <command> <extra...> --config C --subject ID`,
// recorded in the manifest under `record`.
struct StageStep {
  std::string command;
  std::string record;
  std::vector<std::string> extra;
};
const std::vector<StageStep>& subject_chain();  // preprocess -> train (psm) -> embed -> embed untrained
const std::vector<StageStep>& gm_chain();       // embed --model gm -> evaluate

// A stage counts as done when its record is done with the current config hash and its outputs
// are intact. Input hashes are the stage command's own business (it re-checks and skips).
bool stage_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::string& record);
bool chain_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::vector<StageStep>& chain);

struct QueueItem {
  std::string subject;
  std::uint64_t input_bytes = 0;
};
// Subjects whose chain is not done, largest input first (ties by id), so long subjects start early.
std::vector<QueueItem> build_queue(const Manifest& m, const Config& cfg, const std::vector<std::string>& subjects,
                                   const std::vector<StageStep>& chain);
std::uint64_t input_bytes(const SubjectSpec& s);  // file size, or the files of a folder; 0 if missing

}  // namespace psmflow::pipeline
