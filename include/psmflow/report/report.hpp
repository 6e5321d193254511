// The aggregate report (`psmflow collect`, METHOD.md §5 across subjects): reads every subject's
// eval.json, the manifest and the training losses, and writes RUN_DIR/report/report.json,
// report.md, report.html (self-contained) and figures/.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "psmflow/config/config.hpp"
#include "psmflow/eval/evaluate.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow::report {
namespace fs = std::filesystem;

// What the collector may read beyond eval.json files, as hooks so that the aggregation itself
// needs no HDF5 and tests can feed it synthetic subjects.
struct Sources {
  // A subject's labels and embeddings, for the person-independent F1 (empty = not available).
  std::function<std::optional<eval::SubjectData>(const std::string& id)> subject_data;
  // PNG bytes of a sample of a subject's aligned faces (empty = none).
  std::function<std::string(const std::string& id)> faces_png;
};

// Sources reading this run directory's frames.h5, embeddings.h5 and contact sheets.
Sources run_sources(const RunDir& run, const Config& cfg);

// Subjects of the run: the config's, else every folder under subjects/ and every manifest subject.
std::vector<std::string> run_subjects(const RunDir& run, const Config& cfg);

// The stages a missing subject's reason is looked for in: the pipeline's subject stages in order,
// so the root cause is named rather than a later stage that lacked its input.
std::vector<std::string> missing_reason_order(const pipeline::Pipeline& pipe);

// Everything in report.json except the person-independent part and the figures.
nlohmann::json aggregate(const RunDir& run, const Config& cfg, const std::vector<std::string>& subjects);

// Person-independent F1: subject-exclusive folds over the configured AUs, per model.
nlohmann::json person_independent(const std::vector<eval::SubjectData>& subjects, const Config& cfg);

// Training losses: subject (or "gm") -> column name -> values by epoch, from losses.csv files.
struct LossCurve {
  std::string name;  // "S01 psm", "gm"
  std::vector<double> epoch, total;
};
std::vector<LossCurve> read_losses(const RunDir& run, const std::vector<std::string>& subjects);
// One losses.csv: the epoch and total columns, found by their header names.
std::optional<LossCurve> read_loss_csv(const fs::path& file, const std::string& name);

// Figures as files in dir; returns name -> file path (only the figures that had data).
std::map<std::string, fs::path> draw_figures(const nlohmann::json& report, const std::vector<LossCurve>& losses,
                                             const fs::path& dir);

std::string render_markdown(const nlohmann::json& report);
// figures: name -> SVG file; faces: subject -> PNG bytes.
std::string render_html(const nlohmann::json& report, const std::map<std::string, fs::path>& figures,
                        const std::map<std::string, std::string>& faces);

struct CollectResult {
  fs::path report_json, report_md, report_html;
  int evaluated = 0;
  int missing = 0;
};
// The whole collector: aggregate, person-independent F1, figures, the three files (atomically).
CollectResult collect(const RunDir& run, const Config& cfg, const Sources& sources);
// The collect stage: collect() with run_sources(), recorded under kRunScope (always reruns).
StageOutcome collect_stage(const Config& cfg, Manifest& m, CollectResult& res);

}  // namespace psmflow::report
