#include "psmflow/eval/evaluate.hpp"
#include "psmflow/pipeline/stages.hpp"

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "psmflow/eval/cluster.hpp"
#include "psmflow/eval/discovery.hpp"
#include "psmflow/eval/person_dependent.hpp"

namespace psmflow::eval {

using nlohmann::json;

std::vector<int> presence(const std::vector<int>& intensity, double threshold) {
  std::vector<int> out(intensity.size());
  for (std::size_t i = 0; i < intensity.size(); ++i) out[i] = intensity[i] < 0 ? -1 : intensity[i] >= threshold;
  return out;
}

Matrix pca_project(const Matrix& pixels, int components) {
  int k = std::min({components, pixels.rows, pixels.cols});
  cv::Mat data(pixels.rows, pixels.cols, CV_64F, const_cast<double*>(pixels.data.data()));
  cv::PCA pca(data, cv::noArray(), cv::PCA::DATA_AS_ROW, k);
  cv::Mat proj = pca.project(data);
  Matrix out(proj.rows, proj.cols);
  for (int i = 0; i < proj.rows; ++i)
    for (int j = 0; j < proj.cols; ++j) out.at(i, j) = proj.at<double>(i, j);
  return out;
}

std::uint64_t subject_seed(std::uint64_t run_seed, const std::string& subject) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable across platforms, unlike std::hash
  for (unsigned char c : subject) h = (h ^ c) * 1099511628211ULL;
  return run_seed ^ h;
}

namespace {

json interval_json(const Interval& iv) { return {{"mean", iv.mean}, {"lo", iv.lo}, {"hi", iv.hi}}; }

std::string au_name(int au) { return "AU" + std::to_string(au); }

// Models in report order: trained models first, then variants, then the two baselines.
std::vector<std::string> model_order(const SubjectData& d) {
  std::vector<std::string> out;
  for (const auto& t : {kTagPsm, kTagGm})
    if (d.embeddings.count(t)) out.push_back(t);
  for (const auto& [t, m] : d.embeddings)
    if (t != kTagPsm && t != kTagGm && t != kTagUntrained) out.push_back(t);
  if (d.embeddings.count(kTagUntrained)) out.push_back(kTagUntrained);
  if (d.pixels.rows > 0) out.push_back(kTagPixels);
  return out;
}

json score_json(const ModelScore& s, int dims, bool baseline) {
  json aus = json::object();
  for (const auto& a : s.aus) aus[au_name(a.au)] = {{"f1", a.f1}, {"boot", interval_json(a.boot)}};
  return {{"dims", dims}, {"baseline", baseline}, {"aus", aus}, {"mean_f1", s.mean_f1},
          {"mean", interval_json(s.mean)}, {"mean_draws", s.mean_draws}};
}

// DBSCAN counts over the grid [eps][min_samples] and the chosen setting's labels.
json cluster_grid(const Matrix& dist, const EvalSection& e, std::vector<int>& chosen) {
  json counts = json::array();
  for (double eps : e.dbscan_eps) {
    json row = json::array();
    for (int ms : e.dbscan_min_samples) row.push_back(cluster_count(dbscan(dist, eps, ms)));
    counts.push_back(row);
  }
  chosen = dbscan(dist, e.chosen_eps, e.chosen_min_samples);
  return counts;
}

json profiles_json(const std::vector<ClusterProfile>& p, const std::vector<bool>& novel, const std::vector<int>& kept,
                   const std::vector<int>& aus) {
  json out = json::array();
  for (std::size_t i = 0; i < p.size(); ++i) {
    json prof = json::object();
    for (std::size_t a = 0; a < aus.size(); ++a) prof[au_name(aus[a])] = p[i].profile[a];
    bool is_kept = std::find(kept.begin(), kept.end(), static_cast<int>(i)) != kept.end();
    out.push_back({{"label", p[i].label}, {"frames", p[i].frames}, {"profile", prof}, {"kept", is_kept},
                   {"novel", novel.empty() ? false : static_cast<bool>(novel[i])}});
  }
  return out;
}

// in_novel: for PSM and GM, 1 per frame in a novel cluster (filled only when both were clustered).
json clusters_json(const SubjectData& d, const std::vector<std::vector<int>>& present_all, const EvalSection& e,
                   json& warnings, std::map<std::string, std::vector<int>>& in_novel) {
  json out = {{"eps", e.dbscan_eps}, {"min_samples", e.dbscan_min_samples}, {"chosen_eps", e.chosen_eps},
              {"chosen_min_samples", e.chosen_min_samples}, {"novel_threshold", e.novel_threshold}};
  std::map<std::string, std::vector<ClusterProfile>> profiles;
  std::map<std::string, std::vector<int>> labels;
  for (const auto& tag : {kTagPsm, kTagGm}) {
    auto it = d.embeddings.find(tag);
    if (it == d.embeddings.end()) {
      warnings.push_back(fmt::format("no '{}' embeddings: its clusters are not counted", tag));
      continue;
    }
    std::vector<int> chosen;
    out["counts"][tag] = cluster_grid(pairwise_distances(standardise(it->second)), e, chosen);
    out["chosen"][tag + "_clusters"] = cluster_count(chosen);
    profiles[tag] = cluster_profiles(chosen, present_all);
    labels[tag] = std::move(chosen);
  }
  if (profiles.size() == 2) {
    NovelResult r = novel_clusters(profiles[kTagPsm], profiles[kTagGm], e.novel_threshold);
    out["chosen"][kTagPsm] = profiles_json(profiles[kTagPsm], r.psm_novel, r.psm_kept, d.aus);
    out["chosen"][kTagGm] = profiles_json(profiles[kTagGm], r.gm_novel, r.gm_kept, d.aus);
    out["chosen"]["novel_psm"] = std::count(r.psm_novel.begin(), r.psm_novel.end(), true);
    out["chosen"]["novel_gm"] = std::count(r.gm_novel.begin(), r.gm_novel.end(), true);
    json m = json::array();
    for (int i = 0; i < r.match.rows; ++i) m.push_back(std::vector<double>(r.match.row(i), r.match.row(i) + r.match.cols));
    out["chosen"]["match"] = m;
    in_novel[kTagPsm] = frames_in_novel(labels[kTagPsm], profiles[kTagPsm], r.psm_novel);
    in_novel[kTagGm] = frames_in_novel(labels[kTagGm], profiles[kTagGm], r.gm_novel);
  } else {
    warnings.push_back("novel clusters need both PSM and GM embeddings: not computed");
  }
  return out;
}

json enrichment_json(const Enrichment& e) {
  return {{"novel_frames", e.novel_frames}, {"idio_frames", e.idio_frames}, {"both", e.both},
          {"precision", e.precision}, {"recall", e.recall}, {"p_value", e.p_value}, {"permutations", e.permutations}};
}

// The seed slot of the idiosyncrasy in person_dependent_f1 (AU numbers start at 1).
constexpr int kIdioSlot = 0;

json discovery_header(const SubjectData& d, const std::vector<int>& present, const EvalSection& e, json& warnings) {
  const long pos = std::count(present.begin(), present.end(), 1);
  const double frac = present.empty() ? 0.0 : static_cast<double>(pos) / static_cast<double>(present.size());
  if (frac <= e.active_fraction)
    warnings.push_back(fmt::format("the idiosyncrasy ({}) is present in {} frames only: its discovery scores mean little",
                                   d.idiosyncrasy, pos));
  return {{"idiosyncrasy", d.idiosyncrasy}, {"present_frames", pos}, {"fraction", frac},
          {"detection", json::object()}, {"clusters", json::object()}};
}

}  // namespace

json evaluate_subject(const SubjectData& d, const Config& cfg) {
  const EvalSection& e = cfg.eval;
  const int n = d.frames();
  json warnings = json::array();
  json au_info = json::object();
  std::vector<int> active;
  std::vector<std::vector<int>> present_all, present_active;
  for (std::size_t a = 0; a < d.aus.size(); ++a) {
    std::vector<int> p = presence(d.intensity[a], e.present_threshold);
    long labelled = std::count_if(p.begin(), p.end(), [](int v) { return v >= 0; });
    long pos = std::count(p.begin(), p.end(), 1);
    double frac = labelled ? static_cast<double>(pos) / labelled : 0.0;
    bool is_active = frac > e.active_fraction;
    au_info[au_name(d.aus[a])] = {{"present_frames", pos}, {"labelled_frames", labelled}, {"fraction", frac},
                                  {"active", is_active}};
    present_all.push_back(p);
    if (is_active) active.push_back(d.aus[a]), present_active.push_back(p);
  }
  if (active.empty()) warnings.push_back("no AU is active (present in more than the active fraction of frames): no F1");

  ClassifierSettings cs{e.classifier, e.c, e.folds, subject_seed(cfg.run.seed, d.subject)};
  auto draws = bootstrap_indices(n, e.bootstraps, cs.seed + 17);
  const bool truth = !d.idio_intensity.empty();
  const std::vector<int> idio = truth ? presence(d.idio_intensity, e.present_threshold) : std::vector<int>{};
  json discovery = truth ? discovery_header(d, idio, e, warnings) : json();
  json models = json::object();
  for (const auto& tag : model_order(d)) {
    bool pixels = tag == kTagPixels;
    Matrix x = pixels ? pca_project(d.pixels, e.pca_components) : d.embeddings.at(tag);
    spdlog::debug("{}: person-dependent F1 of {} ({} x {})", d.subject, tag, x.rows, x.cols);
    ModelScore s = person_dependent_f1(x, active, present_active, cs, draws);
    models[tag] = score_json(s, x.cols, pixels || tag == kTagUntrained);
    if (!truth) continue;
    AuScore idio_score = person_dependent_f1(x, {kIdioSlot}, {idio}, cs, draws).aus.at(0);
    discovery["detection"][tag] = {{"f1", idio_score.f1}, {"boot", interval_json(idio_score.boot)},
                                   {"baseline", pixels || tag == kTagUntrained}};
  }
  if (!d.embeddings.count(kTagUntrained)) warnings.push_back("no 'untrained' embeddings: that baseline is missing");
  std::map<std::string, std::vector<int>> in_novel;
  json clusters = clusters_json(d, present_all, e, warnings, in_novel);
  if (truth)
    for (const auto& [tag, frames] : in_novel) discovery["clusters"][tag] = enrichment_json(novel_enrichment(frames, idio));

  json out = {{"subject", d.subject},
          {"psmflow_version", PSMFLOW_VERSION},
          {"config_hash", pipeline::config_hash(cfg, stage::evaluate)},
          {"frames", n},
          {"embedding", cfg.model.embedding},
          {"classifier", e.classifier},
          {"c", e.c},
          {"folds", e.folds},
          {"bootstraps", e.bootstraps},
          {"pca_components", e.pca_components},
          {"seed", cs.seed},
          {"present_threshold", e.present_threshold},
          {"active_fraction", e.active_fraction},
          {"aus", au_info},
          {"active_aus", active},
          {"models", models},
          {"clusters", clusters},
          {"warnings", warnings}};
  if (truth) out["discovery"] = discovery;
  return out;
}

}  // namespace psmflow::eval
