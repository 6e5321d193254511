// Cross-checks against scikit-learn (Debian python3-sklearn) on random data: F1 on the same
// predictions, DBSCAN labels, and logistic regression / linear SVM predictions with the same C.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "psmflow/eval/classifier.hpp"
#include "psmflow/eval/cluster.hpp"
#include "psmflow/eval/metrics.hpp"
#include "support/test_support.hpp"

using namespace psmflow::eval;
namespace fs = std::filesystem;
using psmflow::test::run_shell;
using psmflow::test::ScratchDir;
using psmflow::test::shell_quote;

namespace {

// Debian's interpreter, not whatever python3 comes first on PATH.
const char* kPython = "/usr/bin/python3";

bool have_sklearn() { return run_shell(std::string(kPython) + " -c 'import sklearn'").exit_code == 0; }

void write_matrix(const fs::path& p, const Matrix& m) {
  std::ofstream out(p);
  out.precision(17);
  for (int i = 0; i < m.rows; ++i) {
    for (int j = 0; j < m.cols; ++j) out << (j ? " " : "") << m.at(i, j);
    out << '\n';
  }
}

void write_ints(const fs::path& p, const std::vector<int>& v) {
  std::ofstream out(p);
  for (int x : v) out << x << '\n';
}

std::vector<double> run_python(const std::string& script, const fs::path& dir) {
  std::ofstream(dir / "check.py") << script;
  auto r = run_shell("cd " + shell_quote(dir.string()) + " && " + kPython + " check.py");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::istringstream in(r.output);
  std::vector<double> out;
  for (double x; in >> x;) out.push_back(x);
  return out;
}

Matrix blobs(int n, int d, Rng& rng) {
  Matrix x(n, d);
  for (int i = 0; i < n; ++i) {
    int centre = i % 4;
    for (int j = 0; j < d; ++j) x.at(i, j) = (j == centre % d ? 3.0 * centre : 0.0) + (rng.below(2001) / 1000.0 - 1.0);
  }
  return x;
}

#define REQUIRE_SKLEARN()                                                                   \
  if (!have_sklearn()) GTEST_SKIP() << "scikit-learn is absent (/usr/bin/python3 -c 'import sklearn' failed): " \
                                       "cross-check not run; install python3-sklearn"

}  // namespace

TEST(EvalSklearn, F1OnTheSamePredictions) {
  REQUIRE_SKLEARN();
  ScratchDir dir;
  Rng rng(1);
  std::vector<int> truth(500), pred(500);
  for (int i = 0; i < 500; ++i) truth[i] = rng.below(3) == 0, pred[i] = rng.below(2);
  write_ints(dir / "t.txt", truth);
  write_ints(dir / "p.txt", pred);
  auto out = run_python(
      "import numpy as np\nfrom sklearn.metrics import f1_score\n"
      "t=np.loadtxt('t.txt',dtype=int);p=np.loadtxt('p.txt',dtype=int)\n"
      "print(repr(f1_score(t,p)));print(repr(f1_score(t[:40],p[:40])))\n",
      dir.path());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(f1_positive(truth, pred), out[0], 1e-12);
  std::vector<int> t40(truth.begin(), truth.begin() + 40), p40(pred.begin(), pred.begin() + 40);
  EXPECT_NEAR(f1_positive(t40, p40), out[1], 1e-12);
}

TEST(EvalSklearn, DbscanLabelsIdentical) {
  REQUIRE_SKLEARN();
  ScratchDir dir;
  Rng rng(2);
  Matrix x = standardise(blobs(300, 5, rng));
  write_matrix(dir / "x.txt", x);
  Matrix d = pairwise_distances(x);
  const std::vector<std::pair<double, int>> grid = {{0.3, 3}, {0.5, 5}, {0.7, 10}, {1.0, 4}, {1.5, 20}, {2.5, 3}};
  std::string script = "import numpy as np\nfrom sklearn.cluster import DBSCAN\nx=np.loadtxt('x.txt')\n";
  for (auto [eps, ms] : grid)
    script += "print(' '.join(map(str,DBSCAN(eps=" + std::to_string(eps) + ",min_samples=" + std::to_string(ms) +
              ").fit(x).labels_)))\n";
  auto out = run_python(script, dir.path());
  ASSERT_EQ(out.size(), grid.size() * 300);
  int distinct_counts = 0, last = -2;
  for (std::size_t g = 0; g < grid.size(); ++g) {
    std::vector<int> ours = dbscan(d, grid[g].first, grid[g].second);
    std::vector<int> theirs(out.begin() + g * 300, out.begin() + (g + 1) * 300);
    EXPECT_EQ(ours, theirs) << "eps " << grid[g].first << " min_samples " << grid[g].second;
    int c = cluster_count(ours);
    distinct_counts += c != last, last = c;
  }
  EXPECT_GE(distinct_counts, 3);  // the grid spans different clusterings, so the comparison means something
}

namespace {
double agreement(const std::vector<int>& a, const std::vector<double>& b) {
  int same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == static_cast<int>(b[i]);
  return static_cast<double>(same) / static_cast<double>(a.size());
}

struct Problem {
  Matrix train, test;
  std::vector<int> y;
};

Problem noisy_linear(std::uint64_t seed) {
  Rng rng(seed);
  Problem p{Matrix(300, 20), Matrix(300, 20), {}};
  for (Matrix* m : {&p.train, &p.test})
    for (double& v : m->data) v = rng.below(20001) / 10000.0 - 1.0;
  for (int i = 0; i < 300; ++i) {
    double s = p.train.at(i, 0) - 0.7 * p.train.at(i, 1) + 0.3 * p.train.at(i, 2) + (rng.below(2001) / 1000.0 - 1.0) * 0.6;
    p.y.push_back(s > 0.2);
  }
  return p;
}
}  // namespace

TEST(EvalSklearn, LogisticRegressionPredictionsAgree) {
  REQUIRE_SKLEARN();
  ScratchDir dir;
  Problem p = noisy_linear(3);
  write_matrix(dir / "x.txt", p.train);
  write_matrix(dir / "z.txt", p.test);
  write_ints(dir / "y.txt", p.y);
  for (double c : {1.0, 0.01}) {
    auto out = run_python(
        "import numpy as np\nfrom sklearn.linear_model import LogisticRegression\n"
        "x=np.loadtxt('x.txt');z=np.loadtxt('z.txt');y=np.loadtxt('y.txt',dtype=int)\n"
        "m=LogisticRegression(C=" + std::to_string(c) + ",tol=1e-10,max_iter=100000).fit(x,y)\n"
        "print(' '.join(map(str,m.predict(np.vstack([x,z])))))\n",
        dir.path());
    ASSERT_EQ(out.size(), 600u);
    LinearModel m = fit_logreg(p.train, p.y, c);
    std::vector<int> ours = predict(m, p.train), test = predict(m, p.test);
    ours.insert(ours.end(), test.begin(), test.end());
    EXPECT_GE(agreement(ours, out), 0.99) << "C = " << c;
  }
}

TEST(EvalSklearn, LinearSvmPredictionsAgree) {
  REQUIRE_SKLEARN();
  ScratchDir dir;
  Problem p = noisy_linear(4);
  write_matrix(dir / "x.txt", p.train);
  write_matrix(dir / "z.txt", p.test);
  write_ints(dir / "y.txt", p.y);
  auto out = run_python(
      "import numpy as np\nfrom sklearn.svm import LinearSVC\n"
      "x=np.loadtxt('x.txt');z=np.loadtxt('z.txt');y=np.loadtxt('y.txt',dtype=int)\n"
      "m=LinearSVC(C=1.0,tol=1e-8,max_iter=1000000).fit(x,y)\n"
      "print(' '.join(map(str,m.predict(np.vstack([x,z])))))\n",
      dir.path());
  ASSERT_EQ(out.size(), 600u);
  LinearModel m = fit_linear_svm(p.train, p.y, 1.0, 1);
  std::vector<int> ours = predict(m, p.train), test = predict(m, p.test);
  ours.insert(ours.end(), test.begin(), test.end());
  EXPECT_GE(agreement(ours, out), 0.99);
}
