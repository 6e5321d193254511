#include "psmflow/eval/classifier.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <stdexcept>

#include "psmflow/eval/metrics.hpp"

namespace psmflow::eval {

double LinearModel::score(const double* x) const {
  double s = b;
  for (std::size_t j = 0; j < w.size(); ++j) s += w[j] * x[j];
  return s;
}

int LinearModel::predict(const double* x) const {
  if (constant >= 0) return constant;
  return score(x) > 0 ? 1 : 0;
}

std::vector<int> predict(const LinearModel& m, const Matrix& x) {
  std::vector<int> out(static_cast<std::size_t>(x.rows));
  for (int i = 0; i < x.rows; ++i) out[i] = m.predict(x.row(i));
  return out;
}

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}

// Checks the labels and returns a constant model when only one class was seen.
bool one_class(const Matrix& x, const std::vector<int>& y, LinearModel& m) {
  if (static_cast<int>(y.size()) != x.rows) throw std::invalid_argument("classifier: labels and rows differ in count");
  long pos = std::count(y.begin(), y.end(), 1);
  m.w.assign(static_cast<std::size_t>(x.cols), 0.0);
  if (pos == 0 || pos == static_cast<long>(y.size())) {
    m.constant = pos == 0 ? 0 : 1;
    return true;
  }
  return false;
}

// Logistic loss and gradient over theta = (w, b).
double logistic_objective(const Matrix& x, const std::vector<double>& ys, double c, const std::vector<double>& th,
                          std::vector<double>& g) {
  const int d = x.cols;
  double f = 0;
  for (int j = 0; j < d; ++j) f += 0.5 * th[j] * th[j], g[j] = th[j];
  g[d] = 0;
  for (int i = 0; i < x.rows; ++i) {
    const double* xi = x.row(i);
    double z = th[d];
    for (int j = 0; j < d; ++j) z += th[j] * xi[j];
    double yz = ys[i] * z;
    f += c * (yz > 0 ? std::log1p(std::exp(-yz)) : -yz + std::log1p(std::exp(yz)));
    double sig = yz > 0 ? std::exp(-yz) / (1 + std::exp(-yz)) : 1 / (1 + std::exp(yz));  // sigma(-yz)
    double s = -ys[i] * c * sig;
    for (int j = 0; j < d; ++j) g[j] += s * xi[j];
    g[d] += s;
  }
  return f;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

}  // namespace

LinearModel fit_logreg(const Matrix& x, const std::vector<int>& y, double c) {
  LinearModel m;
  if (one_class(x, y, m)) return m;
  const int n = x.cols + 1;
  std::vector<double> ys(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) ys[i] = y[i] == 1 ? 1.0 : -1.0;
  std::vector<double> th(n, 0.0), g(n), th_new(n), g_new(n), dir(n);
  double f = logistic_objective(x, ys, c, th, g);
  const double gtol = 1e-7 * std::max(1.0, max_abs(g));
  std::deque<std::pair<std::vector<double>, std::vector<double>>> hist;  // (s, y) pairs
  const std::size_t kMemory = 20;
  for (int iter = 0; iter < 5000 && max_abs(g) > gtol; ++iter) {
    // Two-loop recursion: dir = -H g.
    dir = g;
    std::vector<double> alpha(hist.size());
    for (std::size_t k = hist.size(); k-- > 0;) {
      alpha[k] = dot(hist[k].first, dir) / dot(hist[k].second, hist[k].first);
      for (int j = 0; j < n; ++j) dir[j] -= alpha[k] * hist[k].second[j];
    }
    double gamma = hist.empty() ? 1.0 / std::max(1.0, max_abs(g))
                                : dot(hist.back().first, hist.back().second) / dot(hist.back().second, hist.back().second);
    for (double& v : dir) v *= gamma;
    for (std::size_t k = 0; k < hist.size(); ++k) {
      double beta = dot(hist[k].second, dir) / dot(hist[k].second, hist[k].first);
      for (int j = 0; j < n; ++j) dir[j] += (alpha[k] - beta) * hist[k].first[j];
    }
    for (double& v : dir) v = -v;
    double slope = dot(g, dir);
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      hist.clear();
      for (int j = 0; j < n; ++j) dir[j] = -g[j] / std::max(1.0, max_abs(g));
      slope = dot(g, dir);
    }
    double step = 1.0, f_new = 0;
    for (int tries = 0;; ++tries) {  // backtracking Armijo line search
      for (int j = 0; j < n; ++j) th_new[j] = th[j] + step * dir[j];
      f_new = logistic_objective(x, ys, c, th_new, g_new);
      if (f_new <= f + 1e-4 * step * slope || tries > 60) break;
      step *= 0.5;
    }
    if (f_new > f) break;  // no progress possible at double precision
    std::vector<double> s(n), yv(n);
    for (int j = 0; j < n; ++j) s[j] = th_new[j] - th[j], yv[j] = g_new[j] - g[j];
    if (dot(s, yv) > 1e-12 * dot(yv, yv)) {
      hist.emplace_back(std::move(s), std::move(yv));
      if (hist.size() > kMemory) hist.pop_front();
    }
    bool stalled = f - f_new <= 1e-15 * std::max(1.0, std::abs(f));
    th.swap(th_new), g.swap(g_new), f = f_new;
    if (stalled) break;
  }
  m.w.assign(th.begin(), th.end() - 1);
  m.b = th.back();
  return m;
}

LinearModel fit_linear_svm(const Matrix& x, const std::vector<int>& y, double c, std::uint64_t seed) {
  LinearModel m;
  if (one_class(x, y, m)) return m;
  const int d = x.cols, n = x.rows;
  const double diag = 0.5 / c;  // squared hinge: D_ii = 1/(2C), no upper bound on alpha
  std::vector<double> w(d + 1, 0.0), alpha(n, 0.0), qii(n), ys(n);
  for (int i = 0; i < n; ++i) {
    ys[i] = y[i] == 1 ? 1.0 : -1.0;
    const double* xi = x.row(i);
    qii[i] = diag + 1.0 + std::inner_product(xi, xi + d, xi, 0.0);  // +1: the bias feature
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int iter = 0; iter < 10000; ++iter) {
    for (int i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    double pg_max = -1e300, pg_min = 1e300;
    for (int i : order) {
      const double* xi = x.row(i);
      double g = ys[i] * (std::inner_product(xi, xi + d, w.begin(), 0.0) + w[d]) - 1 + diag * alpha[i];
      double pg = alpha[i] == 0 ? std::min(g, 0.0) : g;
      pg_max = std::max(pg_max, pg), pg_min = std::min(pg_min, pg);
      if (std::abs(pg) < 1e-12) continue;
      double old = alpha[i];
      alpha[i] = std::max(alpha[i] - g / qii[i], 0.0);
      double delta = (alpha[i] - old) * ys[i];
      for (int j = 0; j < d; ++j) w[j] += delta * xi[j];
      w[d] += delta;
    }
    if (pg_max - pg_min < 1e-6) break;
  }
  m.w.assign(w.begin(), w.end() - 1);
  m.b = w[d];
  return m;
}

LinearModel fit_classifier(const std::string& kind, const Matrix& x, const std::vector<int>& y, double c,
                           std::uint64_t seed) {
  if (kind == "logreg") return fit_logreg(x, y, c);
  if (kind == "svm") return fit_linear_svm(x, y, c, seed);
  throw std::invalid_argument("unknown classifier '" + kind + "' (known: logreg, svm)");
}

}  // namespace psmflow::eval
