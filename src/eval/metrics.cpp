#include "psmflow/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace psmflow::eval {

namespace {
double f1_from(long tp, long fp, long fn) {
  long denom = 2 * tp + fp + fn;
  return denom == 0 ? 0.0 : 2.0 * tp / static_cast<double>(denom);
}
}  // namespace

double f1_positive(const std::vector<int>& truth, const std::vector<int>& pred) {
  if (truth.size() != pred.size()) throw std::invalid_argument("f1_positive: truth and prediction differ in length");
  long tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0) continue;
    tp += truth[i] == 1 && pred[i] == 1;
    fp += truth[i] != 1 && pred[i] == 1;
    fn += truth[i] == 1 && pred[i] != 1;
  }
  return f1_from(tp, fp, fn);
}

double f1_positive(const std::vector<int>& truth, const std::vector<int>& pred, const std::vector<int>& pick) {
  long tp = 0, fp = 0, fn = 0;
  for (int i : pick) {
    if (truth[i] < 0) continue;
    tp += truth[i] == 1 && pred[i] == 1;
    fp += truth[i] != 1 && pred[i] == 1;
    fn += truth[i] == 1 && pred[i] != 1;
  }
  return f1_from(tp, fp, fn);
}

std::uint64_t Rng::next() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int Rng::below(int n) {
  // Rejection keeps the draw exactly uniform.
  std::uint64_t limit = UINT64_MAX - UINT64_MAX % static_cast<std::uint64_t>(n);
  std::uint64_t r;
  do r = next();
  while (r >= limit);
  return static_cast<int>(r % static_cast<std::uint64_t>(n));
}

std::vector<int> stratified_folds(const std::vector<int>& labels, int k, std::uint64_t seed) {
  if (k < 2) throw std::invalid_argument("stratified_folds: need at least 2 folds");
  std::vector<int> fold(labels.size(), 0);
  Rng rng(seed);
  int next_fold = 0;  // continue dealing where the previous class stopped, to balance fold sizes
  for (int cls : {0, 1}) {
    std::vector<int> idx;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if ((labels[i] == 1) == (cls == 1)) idx.push_back(static_cast<int>(i));
    for (int i = static_cast<int>(idx.size()) - 1; i > 0; --i) std::swap(idx[i], idx[rng.below(i + 1)]);
    for (int i : idx) fold[i] = next_fold, next_fold = (next_fold + 1) % k;
  }
  return fold;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) throw std::invalid_argument("percentile of no values");
  std::sort(v.begin(), v.end());
  double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Interval summarise(const std::vector<double>& draws) {
  Interval r;
  if (draws.empty()) return r;
  r.mean = std::accumulate(draws.begin(), draws.end(), 0.0) / static_cast<double>(draws.size());
  r.lo = percentile(draws, 2.5);
  r.hi = percentile(draws, 97.5);
  return r;
}

std::vector<std::vector<int>> bootstrap_indices(int n, int draws, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int>> out(static_cast<std::size_t>(draws), std::vector<int>(static_cast<std::size_t>(n)));
  for (auto& d : out)
    for (int& i : d) i = rng.below(n);
  return out;
}

std::vector<double> bootstrap_f1(const std::vector<int>& truth, const std::vector<int>& pred,
                                 const std::vector<std::vector<int>>& draws) {
  std::vector<double> out;
  out.reserve(draws.size());
  for (const auto& d : draws) out.push_back(f1_positive(truth, pred, d));
  return out;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.empty()) throw std::invalid_argument("pearson: vectors differ in length or are empty");
  double n = static_cast<double>(a.size());
  double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 0 || sbb <= 0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

}  // namespace psmflow::eval
