// psmflow preprocess: videos or frame folders to aligned face crops in frames.h5.
//   psmflow preprocess --config C [--subject ID ...]
//   psmflow preprocess --input VIDEO_OR_FRAME_DIR [--labels DIR_OR_CSV] --subject ID --run-dir DIR
#include <memory>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/video/preprocess.hpp"

namespace psmflow::cli {
namespace {

struct PreprocessOptions {
  CommonOptions common;
  std::string input;
  std::string labels;
  bool force = false;
};

// --input makes (or replaces) one subject on top of the config or the built-in defaults.
void add_input_subject(const PreprocessOptions& o, Config& cfg) {
  if (o.common.subjects.size() != 1) throw UsageError("--input needs exactly one --subject ID");
  std::error_code ec;
  if (!fs::exists(o.input, ec)) throw UsageError("--input " + o.input + ": no such file or folder");
  if (!o.labels.empty() && !fs::exists(o.labels, ec)) throw UsageError("--labels " + o.labels + ": no such file or folder");
  SubjectSpec s{o.common.subjects[0], fs::absolute(o.input), o.labels.empty() ? fs::path() : fs::absolute(o.labels), {}, 0};
  // Without a config the labels path says its format: a folder is DISFA, a file is CSV.
  if (!o.labels.empty() && o.common.config.empty()) cfg.data.label_format = fs::is_directory(s.labels) ? "disfa" : "csv";
  auto& subs = cfg.data.subjects;
  subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const SubjectSpec& x) { return x.id == s.id; }), subs.end());
  subs.push_back(s);
}

std::vector<SubjectSpec> selected(const Config& cfg, const std::vector<std::string>& ids) {
  if (ids.empty()) {
    if (cfg.data.subjects.empty()) throw UsageError("no subjects: give --config with [data] subjects, or --input and --subject");
    return cfg.data.subjects;
  }
  std::vector<SubjectSpec> out;
  for (const auto& id : ids) {
    const SubjectSpec* s = cfg.find_subject(id);
    if (!s) throw UsageError("--subject " + id + ": not a subject of the config");
    out.push_back(*s);
  }
  return out;
}

int run(const PreprocessOptions& o) {
  check_subject_ids(o.common.subjects);
  if (o.input.empty() && !o.labels.empty()) throw UsageError("--labels only goes with --input");
  if (o.input.empty() && o.common.config.empty()) throw UsageError("give --config C, or --input PATH --subject ID --run-dir DIR");
  if (!o.input.empty() && o.common.subjects.size() != 1) throw UsageError("--input needs exactly one --subject ID");
  Config cfg = session_config(o.common, !o.input.empty());
  if (!o.input.empty()) add_input_subject(o, cfg);
  std::vector<SubjectSpec> subjects = selected(cfg, o.common.subjects);
  Session session = open_session(std::move(cfg), "preprocess");
  int failed = run_preprocess(session.cfg, session.manifest, subjects, o.force);
  return failed > 0 ? kExitStageFailed : kExitOk;
}

}  // namespace

Command add_preprocess(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("preprocess", "Videos or frame folders to aligned face crops in frames.h5");
  auto o = std::make_shared<PreprocessOptions>();
  add_common_options(sub, o->common);
  sub->add_option("--input", o->input, "Video file or folder of frame images (one subject, with --subject)");
  sub->add_option("--labels", o->labels, "AU labels: a DISFA folder (*au<k>.txt) or a CSV file (frame,AU1,...)");
  sub->add_flag("--force", o->force, "Redo subjects even when their frames.h5 is up to date");
  sub->footer(
      "Writes RUN_DIR/subjects/<id>/frames.h5 (aligned crops, face boxes, 68 landmarks and a confidence per frame)\n"
      "and contact_sheet.png; unchanged subjects are skipped.\n"
      "Exit status: 0 all done or skipped, 1 a subject failed (the others still ran), 2 bad usage.");
  return {sub, [o] { return run(*o); }};
}

}  // namespace psmflow::cli
