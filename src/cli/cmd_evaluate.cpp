// psmflow evaluate: one subject's evaluation (F1 per model and baselines, clusters) -> eval.json.
#include <fmt/format.h>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/eval/evaluate.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/report/report.hpp"

namespace psmflow::cli {

namespace {

// A file's checksum as recorded by the stage that wrote it, else computed now.
std::string checksum(const Manifest& m, const std::string& id, const std::string& stage_name, const fs::path& file) {
  if (auto r = m.get(id, stage_name)) {
    auto it = r->outputs.find(m.run().relative(file));
    if (it != r->outputs.end() && !it->second.sha256.empty()) return it->second.sha256;
  }
  if (!fs::exists(file)) throw StageError(file.string() + ": missing");
  return sha256_file(file);
}

StageOutcome evaluate_one(Session& s, const std::string& id) {
  const RunDir& run = s.run;
  std::string input_hash;
  try {
    input_hash = sha256_hex(checksum(s.manifest, id, stage::embed, run.embeddings(id)) + "\n" +
                            checksum(s.manifest, id, stage::preprocess, run.frames(id)));
  } catch (const StageError& e) {
    // Recorded as a failure so that status and the report say why this subject has no evaluation.
    input_hash = "missing-inputs";
    return run_stage(s.manifest, id, stage::evaluate, input_hash, s.cfg.stage_hash(stage::evaluate),
                     [&]() -> StageResult { throw e; }, /*force=*/true);
  }
  return run_stage(s.manifest, id, stage::evaluate, input_hash, s.cfg.stage_hash(stage::evaluate), [&] {
    eval::SubjectData d = eval::load_subject(run, id, s.cfg.model.embedding, eval::truth_file(s.cfg, id));
    nlohmann::json j = eval::evaluate_subject(d, s.cfg);
    write_file_atomic(run.eval_json(id), j.dump(1) + "\n");
    StageResult r;
    r.outputs = {run.eval_json(id)};
    r.details = {{"frames", std::to_string(d.frames())}, {"active_aus", std::to_string(j["active_aus"].size())}};
    if (j["models"].contains("psm")) r.details["psm_f1"] = fmt::format("{:.4f}", j["models"]["psm"]["mean"]["mean"].get<double>());
    return r;
  });
}

}  // namespace

Command add_evaluate(CLI::App& root) {
  CLI::App* sub = root.add_subcommand(
      "evaluate", "Score one subject's embeddings: AU F1 per model and baselines, DBSCAN clusters -> subjects/<id>/eval.json");
  auto opt = std::make_shared<CommonOptions>();
  add_common_options(sub, *opt);
  return {sub, [opt] {
            Session s = open_session(*opt, "evaluate");
            std::vector<std::string> ids = opt->subjects;
            if (ids.empty()) ids = report::run_subjects(s.run, s.cfg);
            if (ids.empty()) throw UsageError("evaluate: no subjects (give --subject ID or a config with [data] subjects)");
            int failed = 0;
            for (const auto& id : ids) failed += evaluate_one(s, id) == StageOutcome::failed;
            return failed ? kExitStageFailed : kExitOk;
          }};
}

}  // namespace psmflow::cli
