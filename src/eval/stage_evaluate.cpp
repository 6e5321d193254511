// The evaluate stage: one subject's embeddings and labels -> eval.json, through run_stage().
#include <fmt/format.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/eval/evaluate.hpp"
#include "psmflow/pipeline/plan.hpp"

namespace psmflow::eval {
namespace {

StageResult evaluate_work(const Config& cfg, const RunDir& run, const std::string& id) {
  SubjectData d = load_subject(run, id, cfg.model.embedding, truth_file(cfg, id));
  nlohmann::json j = evaluate_subject(d, cfg);
  write_file_atomic(run.eval_json(id), j.dump(1) + "\n");
  StageResult r;
  r.outputs = {run.eval_json(id)};
  r.details = {{"frames", std::to_string(d.frames())}, {"active_aus", std::to_string(j["active_aus"].size())}};
  if (j["models"].contains(kTagPsm))
    r.details["psm_f1"] = fmt::format("{:.4f}", j["models"][kTagPsm]["mean"]["mean"].get<double>());
  return r;
}

}  // namespace

StageOutcome evaluate_one(const Config& cfg, Manifest& m, const std::string& id, bool accept_unfinished) {
  const pipeline::Stage& st = pipeline::standard_pipeline().at(stage::evaluate);
  const std::string config_hash = pipeline::config_hash(cfg, st);
  std::string input_hash;
  try {
    // Every embedding of the subject is scored (jobs/ add transfer and CTL tags), so every
    // embed-* record feeds the input hash, beside the needs.
    input_hash = pipeline::needs_hash(m, st, id, accept_unfinished, "embed-");
    // Synthetic ground truth ([data] truth) is read here too: a changed truth file re-evaluates.
    if (const fs::path truth = truth_file(cfg, id); !truth.empty() && fs::exists(truth))
      input_hash = sha256_hex(input_hash + sha256_file(truth));
  } catch (const StageError& e) {
    // Recorded as a failure so that status and the report say why this subject has no evaluation.
    return run_stage(m, id, st.name, "missing-inputs", config_hash, [&]() -> StageResult { throw e; },
                     /*force=*/true);
  }
  return run_stage(m, id, st.name, input_hash, config_hash, [&] { return evaluate_work(cfg, m.run(), id); });
}

}  // namespace psmflow::eval
