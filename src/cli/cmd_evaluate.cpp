// psmflow evaluate: one subject's evaluation (F1 per model and baselines, clusters) -> eval.json.
#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/eval/evaluate.hpp"
#include "psmflow/report/report.hpp"

namespace psmflow::cli {

Command add_evaluate(CLI::App& root) {
  CLI::App* sub = root.add_subcommand(
      "evaluate", "Score one subject's embeddings: AU F1 per model and baselines, DBSCAN clusters -> subjects/<id>/eval.json");
  auto opt = std::make_shared<CommonOptions>();
  add_common_options(sub, *opt);
  auto accept = std::make_shared<bool>(false);
  add_accept_unfinished(sub, *accept);
  return {sub, [opt, accept] {
            Config cfg = session_config(*opt);
            std::vector<std::string> ids = opt->subjects;
            if (ids.empty()) ids = report::run_subjects(RunDir(cfg.run.run_dir), cfg);
            if (ids.empty()) throw UsageError("evaluate: no subjects (give --subject ID or a config with [data] subjects)");
            Session s = open_session(std::move(cfg), "evaluate");
            int failed = 0;
            for (const auto& id : ids) failed += eval::evaluate_one(s.cfg, s.manifest, id, *accept) == StageOutcome::failed;
            return failed ? kExitStageFailed : kExitOk;
          }};
}

}  // namespace psmflow::cli
