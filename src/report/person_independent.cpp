#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "psmflow/eval/classifier.hpp"
#include "psmflow/eval/metrics.hpp"
#include "psmflow/report/report.hpp"

namespace psmflow::report {

using nlohmann::json;

namespace {

// Frames per subject used for the pooled fit: enough to train on, bounded so that a cohort of
// hundreds of subjects is collected in minutes, not hours (evenly spaced over each subject).
int frames_per_subject(std::size_t subjects) {
  return static_cast<int>(std::clamp<std::size_t>(6000 / std::max<std::size_t>(subjects, 1), 20, 200));
}

std::vector<int> evenly_spaced(int n, int k) {
  std::vector<int> out;
  if (n <= k) {
    for (int i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  for (int i = 0; i < k; ++i) out.push_back(static_cast<int>(static_cast<long long>(i) * n / k));
  return out;
}

}  // namespace

json person_independent(const std::vector<eval::SubjectData>& subjects, const Config& cfg) {
  const auto& e = cfg.eval;
  if (subjects.size() < 2) return nullptr;
  const int folds = std::min<int>(3, static_cast<int>(subjects.size()));
  const int per_subject = frames_per_subject(subjects.size());
  // Subject-exclusive folds: subjects shuffled with the seed and dealt round-robin.
  std::vector<int> order(subjects.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  eval::Rng rng(cfg.run.seed + 101);
  for (int i = static_cast<int>(order.size()) - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  std::vector<int> subject_fold(subjects.size());
  for (std::size_t i = 0; i < order.size(); ++i) subject_fold[order[i]] = static_cast<int>(i) % folds;

  std::set<std::string> tags;
  for (const auto& s : subjects)
    for (const auto& [t, m] : s.embeddings) tags.insert(t);
  json out = {{"folds", folds}, {"frames_per_subject", per_subject}, {"aus", e.person_independent_aus},
              {"models", json::object()}};
  for (const auto& tag : tags) {
    // Pool the sampled frames of every subject that has this model.
    eval::Matrix pooled;
    std::vector<int> fold_of_row;
    std::map<int, std::vector<int>> labels;  // AU -> per pooled row (1/0/-1)
    int dims = -1, rows = 0;
    std::vector<std::pair<int, std::vector<int>>> picks;  // subject index, frames
    for (std::size_t s = 0; s < subjects.size(); ++s) {
      auto it = subjects[s].embeddings.find(tag);
      if (it == subjects[s].embeddings.end()) continue;
      if (dims >= 0 && it->second.cols != dims) throw std::runtime_error(fmt::format(
          "person-independent F1: model '{}' has {} dims in {} but {} elsewhere", tag, it->second.cols, subjects[s].subject, dims));
      dims = it->second.cols;
      picks.emplace_back(static_cast<int>(s), evenly_spaced(it->second.rows, per_subject));
      rows += static_cast<int>(picks.back().second.size());
    }
    if (picks.size() < 2) continue;
    pooled = eval::Matrix(rows, dims);
    int r = 0;
    for (const auto& [s, frames] : picks) {
      const auto& sd = subjects[s];
      for (int f : frames) {
        std::copy(sd.embeddings.at(tag).row(f), sd.embeddings.at(tag).row(f) + dims, pooled.row(r));
        fold_of_row.push_back(subject_fold[s]);
        for (int au : e.person_independent_aus) {
          auto a = std::find(sd.aus.begin(), sd.aus.end(), au);
          int v = a == sd.aus.end() ? -1 : sd.intensity[a - sd.aus.begin()][f];
          labels[au].push_back(v < 0 ? -1 : v >= e.present_threshold);
        }
        ++r;
      }
    }
    eval::Matrix x = eval::standardise(pooled);
    if (x.cols > x.rows && x.rows <= 2000) x = eval::span_coordinates(x);
    json per = json::object();
    double sum = 0;
    int n = 0;
    for (int au : e.person_independent_aus) {
      const auto& y = labels[au];
      std::vector<int> pred(y.size(), 0);
      for (int f = 0; f < folds; ++f) {
        std::vector<int> train, ty;
        for (int i = 0; i < x.rows; ++i)
          if (fold_of_row[i] != f && y[i] >= 0) train.push_back(i), ty.push_back(y[i]);
        auto m = eval::fit_classifier(e.classifier, eval::select_rows(x, train), ty, e.c, cfg.run.seed);
        for (int i = 0; i < x.rows; ++i)
          if (fold_of_row[i] == f) pred[i] = m.predict(x.row(i));
      }
      if (std::none_of(y.begin(), y.end(), [](int v) { return v == 1; })) continue;  // AU never present: F1 undefined
      double f1 = eval::f1_positive(y, pred);
      per["AU" + std::to_string(au)] = f1;
      sum += f1, ++n;
    }
    out["models"][tag] = {{"aus", per}, {"mean", n ? json(sum / n) : json(nullptr)}, {"subjects", picks.size()}};
    spdlog::info("collect: person-independent F1 of {}: {}", tag, n ? fmt::format("{:.3f}", sum / n) : "no AU present");
  }
  return out;
}

}  // namespace psmflow::report
