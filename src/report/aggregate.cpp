#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "psmflow/eval/metrics.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/parse.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/report/report.hpp"
#include "discovery.hpp"

namespace psmflow::report {

using nlohmann::json;
using eval::Interval;

std::vector<std::string> run_subjects(const RunDir& run, const Config& cfg) {
  std::set<std::string> ids;
  for (const auto& s : cfg.data.subjects) ids.insert(s.id);
  if (ids.empty()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run.subjects_dir(), ec))
      if (e.is_directory()) ids.insert(e.path().filename().string());
    for (const auto& e : fs::directory_iterator(run.manifest_dir(), ec)) {
      std::string id = e.path().filename().string();
      if (e.is_directory() && !id.empty() && id[0] != '_') ids.insert(id);
    }
  }
  return {ids.begin(), ids.end()};
}

namespace {

json interval(const Interval& iv) { return {{"mean", iv.mean}, {"lo", iv.lo}, {"hi", iv.hi}}; }

// Mean over subjects with a 95% interval from resampling the subjects (seeded).
json across_subjects(const std::vector<double>& values, std::uint64_t seed) {
  if (values.empty()) return nullptr;
  std::vector<double> means;
  for (const auto& d : eval::bootstrap_indices(static_cast<int>(values.size()), 1000, seed)) {
    double s = 0;
    for (int i : d) s += values[i];
    means.push_back(s / static_cast<double>(d.size()));
  }
  Interval iv = eval::summarise(means);
  double mean = 0;
  for (double v : values) mean += v / static_cast<double>(values.size());
  return {{"mean", mean}, {"lo", iv.lo}, {"hi", iv.hi}, {"subjects", values.size()}};
}

}  // namespace

std::vector<std::string> missing_reason_order(const pipeline::Pipeline& pipe) {
  return pipe.names(pipeline::Scope::subject);
}

namespace {

// Why a subject has no eval.json: the first failed stage with its error, else what is pending.
json missing_reason(const std::string& id, const std::vector<Record>& records, const Manifest& m) {
  const std::vector<std::string> order = missing_reason_order(pipeline::standard_pipeline());
  auto find = [&](const std::string& st) {
    return std::find_if(records.begin(), records.end(), [&](const Record& r) { return r.stage == st; });
  };
  for (const auto& st : order) {
    auto it = find(st);
    if (it == records.end()) continue;
    Status s = m.effective_status(*it);
    if (s == Status::failed || s == Status::interrupted)
      return {{"subject", id}, {"stage", st}, {"status", to_string(s)}, {"error", it->error}};
  }
  for (const std::string& st : order) {
    auto it = find(st);
    if (it == records.end() || m.effective_status(*it) != Status::done)
      return {{"subject", id}, {"stage", st}, {"status", it == records.end() ? "pending" : to_string(m.effective_status(*it))},
              {"error", st + " has not finished"}};
  }
  return {{"subject", id}, {"stage", stage::evaluate}, {"status", "done"}, {"error", "eval.json is missing"}};
}

std::vector<std::string> ordered_models(const std::set<std::string>& tags) {
  std::vector<std::string> out;
  for (const auto& t : {eval::kTagPsm, eval::kTagGm})
    if (tags.count(t)) out.push_back(t);
  for (const auto& t : tags)
    if (t != eval::kTagPsm && t != eval::kTagGm && t != eval::kTagUntrained && t != eval::kTagPixels) out.push_back(t);
  for (const auto& t : {eval::kTagUntrained, eval::kTagPixels})
    if (tags.count(t)) out.push_back(t);
  return out;
}

double mean_cluster_diff(const json& clusters) {
  if (!clusters.contains("counts") || !clusters["counts"].contains("psm") || !clusters["counts"].contains("gm"))
    return std::nan("");
  const json &p = clusters["counts"]["psm"], &g = clusters["counts"]["gm"];
  double s = 0;
  int n = 0;
  for (std::size_t i = 0; i < p.size() && i < g.size(); ++i)
    for (std::size_t j = 0; j < p[i].size() && j < g[i].size(); ++j) s += g[i][j].get<double>() - p[i][j].get<double>(), ++n;
  return n ? s / n : std::nan("");
}

// Per-draw difference a - b of two models' per-person mean F1 (same draws within a subject).
json paired_difference(const json& a, const json& b) {
  std::vector<double> da = a["mean_draws"].get<std::vector<double>>(), db = b["mean_draws"].get<std::vector<double>>();
  std::vector<double> d;
  for (std::size_t i = 0; i < da.size() && i < db.size(); ++i) d.push_back(da[i] - db[i]);
  if (d.empty()) return nullptr;
  return interval(eval::summarise(d));
}

struct Loaded {
  std::string id;
  json eval;
};

// Frames decoded, with a face, and kept for training (confidence >= [preprocess] min_confidence), from
// the subject's preprocess record; null for records older than those details.
json preprocess_frames(const std::vector<Record>& records) {
  for (const auto& r : records) {
    if (r.stage != stage::preprocess) continue;
    json out = json::object();
    for (const char* k : {"frames", "detected", "kept"})
      if (auto it = r.details.find(k); it != r.details.end())
        if (auto v = parse_integer(it->second)) out[k] = *v;
    return out.size() == 3 ? out : json(nullptr);
  }
  return nullptr;
}

json subject_rows(const std::vector<Loaded>& evals, const std::vector<std::string>& models,
                  const std::map<std::string, std::vector<Record>>& records) {
  json rows = json::array();
  for (const auto& [id, e] : evals) {
    json f1 = json::object();
    double chance = 0;
    int n_active = 0;
    for (const auto& au : e["active_aus"]) {
      double f = e["aus"]["AU" + std::to_string(au.get<int>())]["fraction"].get<double>();
      chance += 2 * f / (1 + f), ++n_active;
    }
    for (const auto& m : models)
      if (e["models"].contains(m)) {
        const json& s = e["models"][m];
        f1[m] = {{"mean", s["mean"]["mean"]}, {"lo", s["mean"]["lo"]}, {"hi", s["mean"]["hi"]}, {"point", s["mean_f1"]}};
      }
    auto recs = records.find(id);
    json row = {{"subject", id}, {"frames", e["frames"]}, {"active_aus", e["active_aus"]}, {"f1", f1},
                {"chance_f1", n_active ? chance / n_active : 0.0}, {"warnings", e.value("warnings", json::array())},
                {"preprocess", recs == records.end() ? json(nullptr) : preprocess_frames(recs->second)}};
    if (e["models"].contains("psm") && e["models"].contains("gm"))
      row["psm_minus_gm"] = paired_difference(e["models"]["psm"], e["models"]["gm"]);
    double cd = mean_cluster_diff(e["clusters"]);
    if (!std::isnan(cd)) row["cluster_diff_gm_minus_psm"] = cd;
    const json& chosen = e["clusters"].value("chosen", json::object());
    if (chosen.contains("novel_psm")) row["novel_psm"] = chosen["novel_psm"], row["novel_gm"] = chosen["novel_gm"];
    for (const char* k : {"psm_clusters", "gm_clusters"})
      if (chosen.contains(k)) row[k] = chosen[k];
    rows.push_back(row);
  }
  return rows;
}

// Mean over subjects of each model's per-person mean F1; interval from the per-draw means.
json headline(const std::vector<Loaded>& evals, const std::vector<std::string>& models) {
  json out = json::object();
  for (const auto& m : models) {
    std::vector<std::vector<double>> draws;
    double sum = 0;
    for (const auto& [id, e] : evals)
      if (e["models"].contains(m) && !e["models"][m]["mean_draws"].empty()) {
        draws.push_back(e["models"][m]["mean_draws"].get<std::vector<double>>());
        sum += e["models"][m]["mean"]["mean"].get<double>();
      }
    if (draws.empty()) continue;
    std::size_t k = draws[0].size();
    for (const auto& d : draws) k = std::min(k, d.size());
    std::vector<double> per_draw(k, 0.0);
    for (const auto& d : draws)
      for (std::size_t i = 0; i < k; ++i) per_draw[i] += d[i] / static_cast<double>(draws.size());
    Interval iv = eval::summarise(per_draw);
    out[m] = {{"mean", sum / static_cast<double>(draws.size())}, {"lo", iv.lo}, {"hi", iv.hi}, {"subjects", draws.size()}};
  }
  return out;
}

json per_au(const std::vector<Loaded>& evals, const std::vector<std::string>& models, std::uint64_t seed) {
  std::map<int, std::map<std::string, std::vector<double>>> values;
  for (const auto& [id, e] : evals)
    for (const auto& m : models)
      if (e["models"].contains(m))
        for (const auto& [au, s] : e["models"][m]["aus"].items()) values[std::stoi(au.substr(2))][m].push_back(s["boot"]["mean"]);
  json out = json::array();  // in AU number order (a JSON object would sort AU12 before AU2)
  for (const auto& [au, by_model] : values) {
    json models = json::object();
    for (const auto& [m, v] : by_model) models[m] = across_subjects(v, seed + au);
    out.push_back({{"au", au}, {"models", models}});
  }
  return out;
}

// Transfer learning (METHOD.md §5): scratch long = psm, GM + short = tl-gm, another subject's PSM +
// short = tl-psm-<source> averaged over sources per subject, scratch short = tl-scratch.
json transfer(const std::vector<Loaded>& evals, std::uint64_t seed) {
  std::map<std::string, std::vector<double>> approach;
  bool any = false;
  for (const auto& [id, e] : evals) {
    double psm_sum = 0;
    int psm_n = 0;
    for (const auto& [tag, s] : e["models"].items()) {
      double v = s["mean"]["mean"];
      if (tag.rfind("tl-psm-", 0) == 0) psm_sum += v, ++psm_n, any = true;
      else if (tag == "tl-gm" || tag == "tl-scratch") approach[tag].push_back(v), any = true;
      else if (tag == eval::kTagPsm) approach["psm"].push_back(v);
    }
    if (psm_n) approach["tl-psm"].push_back(psm_sum / psm_n);
  }
  if (!any) return nullptr;
  json out = json::object();
  const std::vector<std::pair<std::string, std::string>> names = {{"psm", "from scratch, long"},
                                                                  {"tl-gm", "from the GM + short"},
                                                                  {"tl-psm", "from another subject's PSM + short (mean over sources)"},
                                                                  {"tl-scratch", "from scratch, short"}};
  for (const auto& [key, label] : names)
    if (approach.count(key)) out[key] = across_subjects(approach[key], seed), out[key]["label"] = label;
  return out;
}

// CTL vs plain PSM: tags psm-e<N> and ctl-e<N>, mean F1 over subjects at each saved epoch.
json ctl(const std::vector<Loaded>& evals, std::uint64_t seed) {
  static const std::regex re("(psm|ctl)-e([0-9]+)");
  std::map<std::string, std::map<int, std::vector<double>>> series;
  for (const auto& [id, e] : evals)
    for (const auto& [tag, s] : e["models"].items()) {
      std::smatch m;
      if (std::regex_match(tag, m, re)) series[m[1]][std::stoi(m[2])].push_back(s["mean"]["mean"]);
    }
  if (series.empty()) return nullptr;
  json out = json::object();
  for (const auto& [name, by_epoch] : series) {
    json pts = json::array();
    for (const auto& [epoch, v] : by_epoch) {
      json p = across_subjects(v, seed + epoch);
      p["epoch"] = epoch;
      pts.push_back(p);
    }
    out[name] = pts;
  }
  return out;
}

// Plain sentences on whether the trained models beat the untrained network and raw-pixel PCA.
json verdict(const json& head, double chance) {
  json lines = json::array();
  double best_base = -1;
  std::string base_name;
  for (const auto& b : {eval::kTagUntrained, eval::kTagPixels})
    if (head.contains(b) && head[b]["mean"].get<double>() > best_base) best_base = head[b]["mean"], base_name = b;
  bool all_beat = true;
  for (const auto& m : {eval::kTagPsm, eval::kTagGm}) {
    if (!head.contains(m)) continue;
    double v = head[m]["mean"];
    const std::string name = m == eval::kTagPsm ? "PSM" : "GM";
    std::string vs_chance = fmt::format("{} chance ({:.3f})", v > chance ? "above" : "NOT above", chance);
    if (best_base < 0) {
      lines.push_back(fmt::format("{} mean F1 {:.3f}, {}; no baseline was evaluated.", name, v, vs_chance));
      continue;
    }
    bool beats = v > best_base && head[m]["lo"].get<double>() > head[base_name]["hi"].get<double>();
    all_beat &= beats;
    lines.push_back(fmt::format(
        "{} mean F1 {:.3f} [{:.3f}, {:.3f}] is {} the best baseline, {} {:.3f} [{:.3f}, {:.3f}]; {}.", name, v,
        head[m]["lo"].get<double>(), head[m]["hi"].get<double>(),
        beats ? "above" : (v > best_base ? "not clearly above (intervals overlap)" : "BELOW"),
        base_name == eval::kTagPixels ? "raw-pixel PCA" : "the untrained network", best_base,
        head[base_name]["lo"].get<double>(), head[base_name]["hi"].get<double>(), vs_chance));
  }
  if (!head.contains(eval::kTagPsm) && !head.contains(eval::kTagGm))
    lines.push_back("No PSM or GM was evaluated, so nothing can be compared: see 'Missing or failed subjects'.");
  if (best_base >= 0 && !all_beat)
    lines.push_back("The trained models do not beat the baselines: this run's training did not teach them more than an "
                    "untrained network or raw pixels already carry (train longer, try embedding = \"feature\", or CTL).");
  return {{"beats_baselines", best_base >= 0 && all_beat}, {"lines", lines}};
}

}  // namespace

json aggregate(const RunDir& run, const Config& cfg, const std::vector<std::string>& subjects) {
  Manifest manifest(run);
  std::map<std::string, std::vector<Record>> records;
  for (auto& r : manifest.all()) records[r.subject].push_back(std::move(r));
  std::vector<Loaded> evals;
  json missing = json::array();
  std::set<std::string> tags;
  Progress progress("collect: reading eval.json", subjects.size());
  for (const auto& id : subjects) {
    fs::path p = run.eval_json(id);
    progress.add();
    if (!fs::exists(p)) {
      missing.push_back(missing_reason(id, records[id], manifest));
      continue;
    }
    try {
      json e = json::parse(read_file(p));
      for (const auto& [tag, s] : e.at("models").items()) tags.insert(tag);
      evals.push_back({id, std::move(e)});
    } catch (const std::exception& ex) {
      missing.push_back({{"subject", id}, {"stage", stage::evaluate}, {"status", "unreadable"},
                         {"error", p.string() + ": " + ex.what()}});
    }
  }
  progress.finish();
  std::vector<std::string> models = ordered_models(tags);
  std::uint64_t seed = cfg.run.seed;
  json rows = subject_rows(evals, models, records);
  json head = headline(evals, models);

  json out;
  out["psmflow_version"] = PSMFLOW_VERSION;
  out["config_hash"] = cfg.hash;
  out["eval_config_hash"] = pipeline::config_hash(cfg, stage::collect);
  out["created"] = now_iso8601();
  out["run_dir"] = run.root().string();
  out["embedding"] = cfg.model.embedding;
  out["classifier"] = cfg.eval.classifier;
  out["settings"] = {{"present_threshold", cfg.eval.present_threshold}, {"active_fraction", cfg.eval.active_fraction},
                     {"folds", cfg.eval.folds}, {"bootstraps", cfg.eval.bootstraps}, {"c", cfg.eval.c},
                     {"pca_components", cfg.eval.pca_components}, {"chosen_eps", cfg.eval.chosen_eps},
                     {"chosen_min_samples", cfg.eval.chosen_min_samples}, {"novel_threshold", cfg.eval.novel_threshold},
                     {"grid_settings", cfg.eval.dbscan_eps.size() * cfg.eval.dbscan_min_samples.size()}};
  out["subjects_expected"] = subjects.size();
  out["subjects_evaluated"] = evals.size();
  out["missing"] = missing;
  out["models"] = models;
  out["per_subject"] = rows;
  out["headline"] = head;
  out["per_au"] = per_au(evals, models, seed);

  double chance = 0;
  int both = 0, psm_ahead = 0, cl_n = 0, novel_psm = 0, novel_gm = 0, novel_n = 0;
  double cl_sum = 0;
  for (const auto& r : rows) {
    chance += r["chance_f1"].get<double>() / static_cast<double>(rows.size());
    if (r["f1"].contains("psm") && r["f1"].contains("gm"))
      ++both, psm_ahead += r["f1"]["psm"]["mean"].get<double>() > r["f1"]["gm"]["mean"].get<double>();
    if (r.contains("cluster_diff_gm_minus_psm")) cl_sum += r["cluster_diff_gm_minus_psm"].get<double>(), ++cl_n;
    if (r.contains("novel_psm")) novel_psm += r["novel_psm"].get<int>(), novel_gm += r["novel_gm"].get<int>(), ++novel_n;
  }
  out["chance_f1"] = chance;
  out["psm_vs_gm"] = {{"subjects_with_both", both}, {"psm_ahead", psm_ahead}};
  out["clusters"] = {{"subjects", cl_n}, {"mean_diff_gm_minus_psm", cl_n ? json(cl_sum / cl_n) : json(nullptr)},
                     {"novel_psm_total", novel_psm}, {"novel_gm_total", novel_gm}, {"novel_subjects", novel_n}};
  out["transfer"] = transfer(evals, seed);
  out["ctl"] = ctl(evals, seed);
  out["verdict"] = verdict(head, chance);
  std::vector<std::pair<std::string, json>> truth_evals;
  for (const auto& l : evals) truth_evals.emplace_back(l.id, l.eval);
  out["discovery"] = discovery_summary(truth_evals);
  if (!out["discovery"].is_null()) out["verdict"]["lines"].insert(out["verdict"]["lines"].begin(), out["discovery"]["sentence"]);
  return out;
}

}  // namespace psmflow::report
