#include "tables.hpp"

#include <fmt/format.h>

#include "discovery.hpp"
#include "provenance.hpp"
#include "render.hpp"

namespace psmflow::report {

using nlohmann::json;

std::vector<std::pair<std::string, std::string>> report_facts(const json& r) {
  const json& s = r["settings"];
  return {{"psmflow version", r["psmflow_version"]},
          {"config hash", r["config_hash"]},
          {"created", r["created"]},
          {"run directory", r["run_dir"]},
          {"subjects evaluated", fmt::format("{} of {}", num(r["subjects_evaluated"]), num(r["subjects_expected"]))},
          {"embedding", r["embedding"]},
          {"classifier", fmt::format("{} (C = {}), {} stratified folds, {} bootstrap draws", r["classifier"].get<std::string>(),
                                     num(s["c"], 3), num(s["folds"]), num(s["bootstraps"]))},
          {"AU present at intensity", ">= " + num(s["present_threshold"], 1)},
          {"active AU", fmt::format("present in more than {}% of a subject's frames", num(json(s["active_fraction"].get<double>() * 100), 1))},
          {"chance F1 (always 'present')", num(r["chance_f1"])}};
}

namespace {

Table headline(const json& r) {
  Table t{"headline", "Person-dependent F1 per model", "Mean over subjects of each subject's mean F1 over its active AUs "
          "(METHOD.md §5); 95% interval from the bootstrap draws.", {"model", "mean F1 [95% interval]", "subjects"}, {}};
  for (const auto& m : r["models"]) {
    std::string tag = m;
    if (!r["headline"].contains(tag)) continue;
    t.rows.push_back({model_label(tag), interval_text(r["headline"][tag]), num(r["headline"][tag]["subjects"])});
  }
  const json& pg = r["psm_vs_gm"];
  if (pg["subjects_with_both"].get<int>() > 0)
    t.note += fmt::format(" PSM ahead of GM in {} of {} subjects.", num(pg["psm_ahead"]), num(pg["subjects_with_both"]));
  return t;
}

// Variants (transfer, CTL epochs) have their own sections; per AU shows the models and baselines.
bool main_model(const std::string& m) { return m == "psm" || m == "gm" || m == "untrained" || m == "pixels-pca"; }

Table per_au(const json& r) {
  Table t{"f1_per_au", "F1 per AU", "Mean over the subjects for whom the AU is active; interval from resampling subjects.",
          {"AU"}, {}};
  std::vector<std::string> models;
  for (const auto& m : r["models"])
    if (main_model(m)) models.push_back(m), t.header.push_back(model_label(m));
  for (const auto& entry : r["per_au"]) {
    std::vector<std::string> row = {"AU" + num(entry["au"])};
    for (const auto& m : models) row.push_back(entry["models"].contains(m) ? interval_text(entry["models"][m]) : "-");
    t.rows.push_back(row);
  }
  return t;
}

Table per_subject(const json& r) {
  Table t{"psm_minus_gm", "Per subject", "Each subject's mean F1 over its active AUs (bootstrap mean and 95% interval); "
          "PSM - GM from paired draws; clusters at the chosen DBSCAN setting. Frames: kept for training (a face at "
          "[preprocess] min_confidence or above) of those decoded, then those evaluated (kept and labelled).",
          {"subject", "frames kept / decoded", "frames evaluated", "active AUs"}, {}};
  std::vector<std::string> models;
  for (const auto& m : r["models"])
    if (main_model(m)) models.push_back(m), t.header.push_back(model_label(m));
  for (const char* h : {"PSM - GM", "GM - PSM clusters (grid mean)", "novel PSM / GM"}) t.header.push_back(h);
  for (const auto& row : r["per_subject"]) {
    const json& pre = row.value("preprocess", json());
    std::string kept = pre.is_object() ? num(pre["kept"]) + " / " + num(pre["frames"]) : "-";
    std::vector<std::string> cells = {row["subject"], kept, num(row["frames"]), std::to_string(row["active_aus"].size())};
    for (const auto& m : models) cells.push_back(row["f1"].contains(m) ? interval_text(row["f1"][m]) : "-");
    cells.push_back(row.contains("psm_minus_gm") ? interval_text(row["psm_minus_gm"]) : "-");
    cells.push_back(row.contains("cluster_diff_gm_minus_psm") ? num(row["cluster_diff_gm_minus_psm"], 2) : "-");
    cells.push_back(row.contains("novel_psm") ? num(row["novel_psm"]) + " / " + num(row["novel_gm"]) : "-");
    t.rows.push_back(cells);
  }
  return t;
}

Table clusters(const json& r) {
  const json& c = r["clusters"];
  Table t{"cluster_diff", "Clusters", fmt::format("DBSCAN over {} settings on standardised embeddings; the paper found "
          "GM - PSM = -0.742 (PSM finds more) and 52 novel PSM vs 2 novel GM clusters over 27 people.",
          num(r["settings"]["grid_settings"])), {"measure", "value"}, {}};
  t.rows = {{"subjects with PSM and GM clusters", num(c["subjects"])},
            {"mean cluster count difference GM - PSM", num(c["mean_diff_gm_minus_psm"])},
            {"novel PSM clusters (total)", num(c["novel_psm_total"])},
            {"novel GM clusters (total)", num(c["novel_gm_total"])}};
  return t;
}

Table independent(const json& r) {
  const json& pi = r["person_independent"];
  Table t{"person_independent", "Person-independent F1", fmt::format("Subject-exclusive {}-fold, {} frames per subject, "
          "pooled out-of-fold F1 per AU. Each fold's classifier is tested on people it has never seen; with few "
          "people ({} here; the paper had 27) it rarely answers 'present' on a new face, so this F1 can fall far below "
          "the chance F1 of always answering 'present'.", num(pi["folds"]), num(pi["frames_per_subject"]),
          num(r["subjects_evaluated"])), {"model", "mean"}, {}};
  for (const auto& au : pi["aus"]) t.header.push_back("AU" + std::to_string(au.get<int>()));
  for (const auto& [m, v] : pi["models"].items()) {
    std::vector<std::string> row = {model_label(m), num(v["mean"])};
    for (const auto& au : pi["aus"]) {
      std::string k = "AU" + std::to_string(au.get<int>());
      row.push_back(v["aus"].contains(k) ? num(v["aus"][k]) : "-");
    }
    t.rows.push_back(row);
  }
  return t;
}

Table transfer(const json& r) {
  Table t{"transfer", "Transfer learning", "Paper: 0.831 / 0.806 / 0.654 / 0.409 in this order.",
          {"approach", "mean F1 [95% interval]", "subjects"}, {}};
  for (const char* k : {"psm", "tl-gm", "tl-psm", "tl-scratch"})
    if (r["transfer"].contains(k))
      t.rows.push_back({r["transfer"][k]["label"], interval_text(r["transfer"][k]), num(r["transfer"][k]["subjects"])});
  return t;
}

Table ctl(const json& r) {
  Table t{"ctl", "CTL vs plain PSM", "Mean F1 over subjects at each saved epoch.", {"epoch"}, {}};
  std::map<int, std::map<std::string, std::string>> by_epoch;
  for (const auto& [name, pts] : r["ctl"].items()) {
    t.header.push_back(name == "ctl" ? "PSM-CTL" : "PSM");
    for (const auto& p : pts) by_epoch[p["epoch"].get<int>()][name] = interval_text(p);
  }
  for (const auto& [epoch, v] : by_epoch) {
    std::vector<std::string> row = {std::to_string(epoch)};
    for (const auto& [name, pts] : r["ctl"].items()) row.push_back(v.count(name) ? v.at(name) : "-");
    t.rows.push_back(row);
  }
  return t;
}

Table missing(const json& r) {
  Table t{"missing", "Missing or failed subjects", "", {"subject", "stage", "status", "reason"}, {}};
  for (const auto& m : r["missing"]) t.rows.push_back({m["subject"], m["stage"], m["status"], m["error"]});
  if (t.rows.empty()) t.note = "None: every subject was evaluated.";
  return t;
}

}  // namespace

std::vector<Table> report_tables(const json& r) {
  std::vector<Table> out = {headline(r), per_au(r)};
  if (r.contains("person_independent") && !r["person_independent"].is_null()) out.push_back(independent(r));
  out.push_back(per_subject(r));
  out.push_back(clusters(r));
  if (!r["transfer"].is_null()) out.push_back(transfer(r));
  if (!r["ctl"].is_null()) out.push_back(ctl(r));
  if (r.contains("discovery") && !r["discovery"].is_null()) out.push_back(discovery_table(r));
  out.push_back(missing(r));
  if (auto p = provenance_table(r)) out.push_back(*p);
  return out;
}

}  // namespace psmflow::report
