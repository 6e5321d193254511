// Linear classifiers for AU detection from embeddings (METHOD.md §5), matching scikit-learn:
// - logreg: L2 logistic regression, min 0.5|w|^2 + C sum log(1 + exp(-y (w.x + b))), intercept
//   not penalised (LogisticRegression(C=c)); solved by L-BFGS to a tight tolerance.
// - svm: L2-regularised squared-hinge linear SVM, dual coordinate descent with the intercept as
//   an extra constant feature (LinearSVC(C=c)).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "psmflow/eval/matrix.hpp"

namespace psmflow::eval {

struct LinearModel {
  std::vector<double> w;
  double b = 0;
  // Set when training saw one class only: every prediction is that class.
  int constant = -1;
  double score(const double* x) const;
  int predict(const double* x) const;
};

LinearModel fit_logreg(const Matrix& x, const std::vector<int>& y, double c);
LinearModel fit_linear_svm(const Matrix& x, const std::vector<int>& y, double c, std::uint64_t seed);
// kind: "logreg" | "svm"
LinearModel fit_classifier(const std::string& kind, const Matrix& x, const std::vector<int>& y, double c,
                           std::uint64_t seed);
std::vector<int> predict(const LinearModel& m, const Matrix& x);

}  // namespace psmflow::eval
