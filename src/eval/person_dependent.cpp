#include "psmflow/eval/person_dependent.hpp"

#include <numeric>
#include <stdexcept>

#include "psmflow/eval/classifier.hpp"

namespace psmflow::eval {

std::vector<int> out_of_fold_predictions(const Matrix& x, const std::vector<int>& labels, const ClassifierSettings& s) {
  std::vector<int> rows, y;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) rows.push_back(static_cast<int>(i)), y.push_back(labels[i] == 1);
  std::vector<int> pred(labels.size(), -1);
  std::vector<int> fold = stratified_folds(y, s.folds, s.seed);
  for (int f = 0; f < s.folds; ++f) {
    std::vector<int> train, train_y, test;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (fold[i] == f) test.push_back(rows[i]);
      else train.push_back(rows[i]), train_y.push_back(y[i]);
    }
    if (test.empty()) continue;
    LinearModel m = fit_classifier(s.kind, select_rows(x, train), train_y, s.c, s.seed + static_cast<std::uint64_t>(f));
    for (int r : test) pred[r] = m.predict(x.row(r));
  }
  return pred;
}

ModelScore person_dependent_f1(const Matrix& x, const std::vector<int>& aus, const std::vector<std::vector<int>>& present,
                               const ClassifierSettings& s, const std::vector<std::vector<int>>& draws) {
  if (aus.size() != present.size()) throw std::invalid_argument("person_dependent_f1: AUs and labels differ in count");
  Matrix z = span_coordinates(standardise(x));
  ModelScore out;
  out.mean_draws.assign(draws.size(), 0.0);
  for (std::size_t a = 0; a < aus.size(); ++a) {
    ClassifierSettings sa = s;
    sa.seed = s.seed * 1000003ULL + static_cast<std::uint64_t>(aus[a]);  // folds differ per AU, as each is stratified on its own labels
    std::vector<int> pred = out_of_fold_predictions(z, present[a], sa);
    AuScore score;
    score.au = aus[a];
    score.f1 = f1_positive(present[a], pred);
    score.draws = bootstrap_f1(present[a], pred, draws);
    score.boot = summarise(score.draws);
    for (std::size_t d = 0; d < draws.size(); ++d) out.mean_draws[d] += score.draws[d] / static_cast<double>(aus.size());
    out.mean_f1 += score.f1 / static_cast<double>(aus.size());
    out.aus.push_back(std::move(score));
  }
  if (aus.empty()) out.mean_draws.clear();
  out.mean = summarise(out.mean_draws);
  return out;
}

}  // namespace psmflow::eval
