// psmflow collect: every subject's eval.json -> RUN_DIR/report/{report.json, report.md, report.html, figures/}.
#include <iostream>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/report/report.hpp"

namespace psmflow::cli {

Command add_collect(CLI::App& root) {
  CLI::App* sub = root.add_subcommand(
      "collect", "Aggregate every subject's evaluation into RUN_DIR/report/ (report.json, report.md, report.html)");
  auto opt = std::make_shared<CommonOptions>();
  add_common_options(sub, *opt, /*with_subject=*/false);
  return {sub, [opt] {
            Session s = open_session(*opt, "collect");
            report::CollectResult res;
            // Always rewritten: the report reflects the run as it is now (new failures, new subjects).
            StageOutcome o = run_stage(s.manifest, kRunScope, stage::collect, "always", s.cfg.stage_hash(stage::collect), [&] {
              res = report::collect(s.run, s.cfg, report::run_sources(s.run, s.cfg));
              StageResult r;
              r.outputs = {res.report_json, res.report_md, res.report_html};
              r.details = {{"evaluated", std::to_string(res.evaluated)}, {"missing", std::to_string(res.missing)}};
              return r;
            }, /*force=*/true);
            if (o == StageOutcome::failed) return kExitStageFailed;
            std::cout << res.report_html.string() << "\n";
            return kExitOk;
          }};
}

}  // namespace psmflow::cli
