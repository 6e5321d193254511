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
            Session s = open_session(session_config(*opt), "collect");
            report::CollectResult res;
            StageOutcome o = report::collect_stage(s.cfg, s.manifest, res);
            if (o == StageOutcome::failed) return kExitStageFailed;
            std::cout << res.report_html.string() << "\n";
            return kExitOk;
          }};
}

}  // namespace psmflow::cli
