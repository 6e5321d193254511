// What `psmflow run` has to do, decided without MPI: the shard of subjects, the chain of stage
// commands per subject, which subjects still have work, and the order they are handed out in.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/pipeline/stages.hpp"
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
// The subject stages of one phase of the pipeline, in declaration order (see Pipeline::phase).
std::vector<StageStep> chain_of_phase(const Pipeline& pipe, int phase);
const std::vector<StageStep>& subject_chain();  // phase 0 of the standard pipeline: before the GM
const std::vector<StageStep>& gm_chain();       // phase 2: the subject stages after the GM

// A stage counts as done when its record is done with the current config hash and its outputs
// are intact. Input hashes are the stage command's own business (it re-checks and skips).
bool stage_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::string& record);

// The input hash made from the records a stage reads (its needs of the same scope, and for
// `also_prefix` every other record whose name starts with it): their output checksums. A
// record that is there but not done is refused with a StageError naming it, unless
// accept_unfinished; a need without a record counts by the checksum of its output file when
// one exists (frames made elsewhere) and is refused otherwise.
std::string needs_hash(const Manifest& m, const Stage& s, const std::string& subject, bool accept_unfinished = false,
                       const std::string& also_prefix = "");
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
