// The stages of a run, declared once. Every consumer reads this table: the chains of `psmflow
// run` and of the Slurm jobs, `psmflow status` and `resume`, the report's missing reasons, the
// expansion of jobs/ experiments, and each stage's config hash. Adding a stage is one entry in
// standard_pipeline() (src/pipeline/stages.cpp) plus the function that does its work.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow {

// Record names of the standard stages (also the file names of manifest records).
namespace stage {
inline const std::string preprocess = "preprocess";
inline const std::string psm = "psm";
inline const std::string embed = "embed";
inline const std::string embed_untrained = "embed-untrained";
inline const std::string gm = "gm";
inline const std::string embed_gm = "embed-gm";
inline const std::string evaluate = "evaluate";
inline const std::string collect = "collect";
}  // namespace stage

}  // namespace psmflow

namespace psmflow::pipeline {

enum class Scope { subject, run };  // run-scope stages are recorded under kRunScope

// How a stage's input hash is made: by its body from what it reads (a video, a checkpoint),
// from the output checksums of the records it needs, or never equal (it always reruns).
enum class Inputs { own, needs, always };

struct Stage {
  std::string name;
  Scope scope = Scope::subject;
  std::vector<std::string> needs;
  std::vector<std::string> command;   // argv after `psmflow`, before --config and --subject
  std::vector<std::string> sections;  // config sections its config hash covers ("seed" = [run] seed)
  Inputs inputs = Inputs::own;
  // The one output file the record checksums (subject is kRunScope for run-scope stages).
  std::function<fs::path(const RunDir&, const std::string& subject)> output;
};

// Tagged variants, as jobs/ experiments and `psmflow train --tag` / `embed --model` make them.
Stage train_stage(const std::string& tag);  // psm, or train-<tag> into subjects/<id>/<tag>/
Stage embed_stage(const std::string& tag);  // embed (psm), embed-gm, embed-untrained, embed-<tag>
// The stage of a record name: a standard stage, or a train-/embed- variant; throws otherwise.
Stage stage_from_name(const std::string& name);

class Pipeline {
 public:
  // Checks that names are unique and that every need is declared before the stage that needs it.
  explicit Pipeline(std::vector<Stage> stages);

  const std::vector<Stage>& stages() const { return stages_; }
  const Stage& at(const std::string& name) const;  // throws std::out_of_range naming the stage
  bool has(const std::string& name) const;
  // Phase 0: subject stages that need no run-scope stage; each change of scope along the needs
  // starts the next phase (the GM is phase 1, the subject stages after it phase 2, ...).
  int phase(const std::string& name) const;
  int phases() const;
  std::vector<std::string> in_phase(int phase) const;
  std::vector<std::string> in_phase(int phase, Scope scope) const;
  std::vector<std::string> names(Scope scope) const;

 private:
  std::vector<Stage> stages_;
  std::vector<int> phase_;
};

const Pipeline& standard_pipeline();

// The config hash of a stage: the config sections it declares, and its name's base.
std::string config_hash(const Config& cfg, const Stage& s);
std::string config_hash(const Config& cfg, const std::string& stage_name);

}  // namespace psmflow::pipeline
