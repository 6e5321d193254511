#include <spdlog/spdlog.h>

#include <chrono>

#include "psmflow/core/fs.hpp"
#include "psmflow/report/report.hpp"
#include "provenance.hpp"

namespace psmflow::report {

using nlohmann::json;

namespace {

// Subjects whose data feed the person-independent F1; a subject that cannot be read is left out
// with a warning rather than failing the report.
std::vector<eval::SubjectData> load_for_pi(const json& rows, const Sources& s) {
  std::vector<eval::SubjectData> out;
  if (!s.subject_data) return out;
  for (const auto& row : rows) {
    std::string id = row["subject"];
    try {
      if (auto d = s.subject_data(id)) out.push_back(std::move(*d));
    } catch (const std::exception& e) {
      spdlog::warn("collect: {} left out of the person-independent F1: {}", id, e.what());
    }
  }
  return out;
}

std::map<std::string, std::string> face_samples(const json& rows, const Sources& s) {
  std::map<std::string, std::string> out;
  const std::size_t kMaxSubjects = 24;  // enough to see alignment problems; keeps report.html small
  if (!s.faces_png) return out;
  for (const auto& row : rows) {
    if (out.size() >= kMaxSubjects) break;
    std::string id = row["subject"];
    try {
      std::string png = s.faces_png(id);
      if (!png.empty()) out[id] = std::move(png);
    } catch (const std::exception& e) {
      spdlog::warn("collect: no face sample for {}: {}", id, e.what());
    }
  }
  return out;
}

}  // namespace

CollectResult collect(const RunDir& run, const Config& cfg, const Sources& sources) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> subjects = run_subjects(run, cfg);
  json r = aggregate(run, cfg, subjects);
  auto pi_data = load_for_pi(r["per_subject"], sources);
  r["provenance"] = read_provenance(run);
  r["person_independent"] = pi_data.size() >= 2 ? person_independent(pi_data, cfg) : json(nullptr);
  pi_data.clear();

  fs::path dir = run.report_dir();
  fs::create_directories(dir);
  auto figures = draw_figures(r, read_losses(run, subjects), dir / "figures");
  json fig_list = json::object();
  for (const auto& [name, path] : figures) fig_list[name] = "figures/" + path.filename().string();
  r["figures"] = fig_list;
  auto faces = face_samples(r["per_subject"], sources);

  CollectResult out{dir / "report.json", dir / "report.md", dir / "report.html",
                    r["subjects_evaluated"].get<int>(), static_cast<int>(r["missing"].size())};
  write_file_atomic(out.report_json, r.dump(1) + "\n");
  write_file_atomic(out.report_md, render_markdown(r));
  write_file_atomic(out.report_html, render_html(r, figures, faces));
  spdlog::info("collect: {} subjects evaluated, {} missing; report in {:.2f} s: {}", out.evaluated, out.missing,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), out.report_html.string());
  return out;
}

StageOutcome collect_stage(const Config& cfg, Manifest& m, CollectResult& res) {
  const pipeline::Stage& st = pipeline::standard_pipeline().at(stage::collect);
  // Inputs::always: the report reflects the run as it is now (new failures, new subjects).
  return run_stage(m, kRunScope, st.name, "always", pipeline::config_hash(cfg, st), [&] {
    res = collect(m.run(), cfg, run_sources(m.run(), cfg));
    StageResult r;
    r.outputs = {res.report_json, res.report_md, res.report_html};
    r.details = {{"evaluated", std::to_string(res.evaluated)}, {"missing", std::to_string(res.missing)}};
    return r;
  }, /*force=*/true);
}

}  // namespace psmflow::report
