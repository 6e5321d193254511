// Person-dependent AU detection (METHOD.md §5): for one subject and one feature matrix, a linear
// classifier per active AU scored by out-of-fold F1 over stratified k folds, with bootstrap draws
// of the out-of-fold predictions giving a mean and a 95% interval.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "psmflow/eval/matrix.hpp"
#include "psmflow/eval/metrics.hpp"

namespace psmflow::eval {

struct ClassifierSettings {
  std::string kind = "logreg";  // logreg | svm
  double c = 1.0;
  int folds = 3;
  std::uint64_t seed = 1;
};

// Out-of-fold predictions (0/1) for every row; rows whose label is negative (unlabelled) get -1.
// Features are used as given (callers standardise).
std::vector<int> out_of_fold_predictions(const Matrix& x, const std::vector<int>& labels, const ClassifierSettings& s);

struct AuScore {
  int au = 0;
  double f1 = 0;     // F1 of all out-of-fold predictions
  Interval boot;     // over the bootstrap draws
  std::vector<double> draws;
};

struct ModelScore {
  std::vector<AuScore> aus;
  // Per draw, the mean F1 over the scored AUs (the paper's per-person figure), and its summary.
  std::vector<double> mean_draws;
  Interval mean;
  double mean_f1 = 0;  // mean over AUs of the point F1
};

// present[a]: labels (1/0/-1) of AU aus[a] per row of x. x is standardised here (over all of the
// subject's frames: no labels involved) and reduced to its span when wider than tall.
ModelScore person_dependent_f1(const Matrix& x, const std::vector<int>& aus, const std::vector<std::vector<int>>& present,
                               const ClassifierSettings& s, const std::vector<std::vector<int>>& draws);

}  // namespace psmflow::eval
