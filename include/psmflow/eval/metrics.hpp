// Scores and resampling: F1 of the positive class, stratified k-fold, percentile bootstrap,
// Pearson correlation. Deterministic for a seed.
#pragma once
#include <cstdint>
#include <vector>

namespace psmflow::eval {

// F1 of the positive class (label 1): 2TP / (2TP + FP + FN); 0 when there is no positive at all
// in truth or prediction (sklearn's zero_division=0). Samples whose truth is negative (unlabelled)
// are left out.
double f1_positive(const std::vector<int>& truth, const std::vector<int>& pred);
double f1_positive(const std::vector<int>& truth, const std::vector<int>& pred, const std::vector<int>& pick);

// Fold number (0..k-1) of every sample; each class is shuffled with the seed and dealt round-robin
// over the folds, so every fold holds floor or ceil of each class's share.
std::vector<int> stratified_folds(const std::vector<int>& labels, int k, std::uint64_t seed);

// Percentile with linear interpolation between order statistics (numpy's default), q in [0,100].
double percentile(std::vector<double> values, double q);

struct Interval {
  double mean = 0;
  double lo = 0;  // 2.5th percentile
  double hi = 0;  // 97.5th percentile
};
Interval summarise(const std::vector<double>& draws);

// `draws` resamples of n indices with replacement (the same draws serve every AU and model of a
// subject, so their differences are paired).
std::vector<std::vector<int>> bootstrap_indices(int n, int draws, std::uint64_t seed);

// F1 of each bootstrap draw of out-of-fold predictions.
std::vector<double> bootstrap_f1(const std::vector<int>& truth, const std::vector<int>& pred,
                                 const std::vector<std::vector<int>>& draws);

// Pearson correlation; 0 when either vector is constant (no linear relation can be measured).
double pearson(const std::vector<double>& a, const std::vector<double>& b);

// Deterministic 64-bit generator (splitmix64), identical on every platform and library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  int below(int n);  // uniform in [0, n)
 private:
  std::uint64_t s_;
};

}  // namespace psmflow::eval
