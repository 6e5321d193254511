#include "psmflow/eval/cluster.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "psmflow/eval/metrics.hpp"

namespace psmflow::eval {

Matrix pairwise_distances(const Matrix& x) {
  Matrix d(x.rows, x.rows);
  for (int i = 0; i < x.rows; ++i) {
    const double* a = x.row(i);
    for (int j = i + 1; j < x.rows; ++j) {
      const double* b = x.row(j);
      double s = 0;
      for (int k = 0; k < x.cols; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
      d.at(i, j) = d.at(j, i) = std::sqrt(s);
    }
  }
  return d;
}

std::vector<int> dbscan(const Matrix& dist, double eps, int min_samples) {
  const int n = dist.rows;
  std::vector<std::vector<int>> neighbours(n);
  std::vector<char> core(n, 0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j)
      if (dist.at(i, j) <= eps) neighbours[i].push_back(j);
    core[i] = static_cast<int>(neighbours[i].size()) >= min_samples;
  }
  // sklearn's dbscan_inner: depth-first from each unlabelled core point in index order; a point
  // takes the label when first reached, and only core points spread it further.
  std::vector<int> label(n, -1);
  int next = 0;
  std::vector<int> stack;
  for (int i = 0; i < n; ++i) {
    if (label[i] != -1 || !core[i]) continue;
    int at = i;
    for (;;) {
      if (label[at] == -1) {
        label[at] = next;
        if (core[at])
          for (int v : neighbours[at])
            if (label[v] == -1) stack.push_back(v);
      }
      if (stack.empty()) break;
      at = stack.back();
      stack.pop_back();
    }
    ++next;
  }
  return label;
}

int cluster_count(const std::vector<int>& labels) {
  int top = -1;
  for (int l : labels) top = std::max(top, l);
  return top + 1;
}

std::vector<ClusterProfile> cluster_profiles(const std::vector<int>& labels,
                                             const std::vector<std::vector<int>>& present) {
  std::map<int, ClusterProfile> by_label;
  std::map<int, std::vector<int>> labelled;  // per cluster: frames with a label, per AU
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto& p = by_label[labels[i]];
    p.label = labels[i];
    p.frames++;
    auto& cnt = labelled[labels[i]];
    cnt.resize(present.size(), 0);
    p.profile.resize(present.size(), 0.0);
    for (std::size_t a = 0; a < present.size(); ++a) {
      if (present[a][i] < 0) continue;
      cnt[a]++;
      p.profile[a] += present[a][i];
    }
  }
  std::vector<ClusterProfile> out;
  for (auto& [l, p] : by_label) {
    for (std::size_t a = 0; a < p.profile.size(); ++a)
      p.profile[a] = labelled[l][a] ? p.profile[a] / labelled[l][a] : 0.0;
    out.push_back(p);
  }
  return out;  // noise (-1) first, then clusters in label order
}

Matrix match_matrix(const std::vector<std::vector<double>>& psm, const std::vector<std::vector<double>>& gm) {
  Matrix m(static_cast<int>(psm.size()), static_cast<int>(gm.size()));
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t p = 0; p < psm.size(); ++p)
    for (std::size_t g = 0; g < gm.size(); ++g) {
      double l1 = 0;
      for (std::size_t a = 0; a < psm[p].size(); ++a) l1 += std::abs(psm[p][a] - gm[g][a]);
      double v = pearson(psm[p], gm[g]) - l1;
      m.at(static_cast<int>(p), static_cast<int>(g)) = v;
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  for (double& v : m.data) v = hi > lo ? (v - lo) / (hi - lo) : 1.0;
  return m;
}

namespace {
bool all_zero(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0; });
}
}  // namespace

NovelResult novel_clusters(const std::vector<ClusterProfile>& psm, const std::vector<ClusterProfile>& gm,
                           double threshold) {
  NovelResult r;
  r.psm_novel.assign(psm.size(), false);
  r.gm_novel.assign(gm.size(), false);
  std::vector<std::vector<double>> p, g;
  for (std::size_t i = 0; i < psm.size(); ++i)
    if (!all_zero(psm[i].profile)) r.psm_kept.push_back(static_cast<int>(i)), p.push_back(psm[i].profile);
  for (std::size_t i = 0; i < gm.size(); ++i)
    if (!all_zero(gm[i].profile)) r.gm_kept.push_back(static_cast<int>(i)), g.push_back(gm[i].profile);
  r.match = match_matrix(p, g);
  for (std::size_t a = 0; a < p.size(); ++a) {
    bool matched = false;
    for (std::size_t b = 0; b < g.size(); ++b) matched |= r.match.at(static_cast<int>(a), static_cast<int>(b)) > threshold;
    r.psm_novel[r.psm_kept[a]] = !matched;
  }
  for (std::size_t b = 0; b < g.size(); ++b) {
    bool matched = false;
    for (std::size_t a = 0; a < p.size(); ++a) matched |= r.match.at(static_cast<int>(a), static_cast<int>(b)) > threshold;
    r.gm_novel[r.gm_kept[b]] = !matched;
  }
  return r;
}

}  // namespace psmflow::eval
