// Cross-checks against scikit-learn (Debian python3-sklearn) on random data: F1 on the same
// predictions, DBSCAN labels, and logistic regression / linear SVM predictions with the same C.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "psmflow/eval/classifier.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/eval/cluster.hpp"
#include "psmflow/eval/evaluate.hpp"
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

// Discovery scores of evaluate_subject against scikit-learn on the same embeddings: detection F1
// from LogisticRegression on the same folds, DBSCAN labels, the novel rule written out in numpy,
// precision and recall from sklearn.metrics, and the circular-shift p-value with np.roll.
namespace {

SubjectData discovery_subject(int n) {
  Rng rng(11);
  auto noise = [&] { return rng.below(2001) / 1000.0 - 1.0; };
  SubjectData d;
  d.subject = "S02";
  d.aus = {1, 2, 12};
  d.intensity.assign(3, std::vector<int>(n, 0));
  d.idiosyncrasy = "cheek_puff";
  d.idio_intensity.assign(n, 0);
  Matrix psm(n, 5), gm(n, 5), untrained(n, 5);
  for (int i = 0; i < n; ++i) {
    // Episodes of 12 frames: AU1, AU2, AU12, the idiosyncrasy (with AU1 or AU2 on alternate frames),
    // then four of rest, so that the GM's rest cluster, which swallows the idiosyncrasy, has an
    // AU profile unlike the PSM's idiosyncrasy cluster: that one is novel.
    const int phase = (i / 12) % 8;
    d.intensity[0][i] = phase == 0 || (phase == 3 && i % 2) ? 3 : 0;
    d.intensity[1][i] = phase == 1 || (phase == 3 && i % 2 == 0) ? 3 : 0;
    d.intensity[2][i] = phase == 2 ? 3 : 0;
    d.idio_intensity[i] = phase == 3 ? 2 + i % 3 : 0;
    for (int j = 0; j < 5; ++j) psm.at(i, j) = 0.25 * noise(), gm.at(i, j) = 0.25 * noise(), untrained.at(i, j) = noise();
    for (int k = 0; k < 3; ++k) psm.at(i, k) += 3.0 * (phase == k), gm.at(i, k) += 3.0 * (phase == k);
    psm.at(i, 3) += 3.0 * (phase == 3);  // the PSM separates the idiosyncrasy; the GM folds it into the rest
  }
  d.embeddings = {{"psm", psm}, {"gm", gm}, {"untrained", untrained}};
  return d;
}

}  // namespace

TEST(EvalSklearn, DiscoveryScoresAgree) {
  REQUIRE_SKLEARN();
  ScratchDir dir;
  const int n = 288;
  SubjectData d = discovery_subject(n);
  psmflow::Config cfg = psmflow::default_config();
  cfg.eval.chosen_eps = 1.0;
  cfg.eval.chosen_min_samples = 5;
  nlohmann::json j = evaluate_subject(d, cfg);
  ASSERT_TRUE(j.contains("discovery"));
  const auto& disc = j["discovery"];
  std::vector<int> idio = presence(d.idio_intensity, cfg.eval.present_threshold);
  write_ints(dir / "idio.txt", idio);
  // The folds evaluate_subject draws for the idiosyncrasy (slot 0 of person_dependent_f1).
  write_ints(dir / "folds.txt", stratified_folds(idio, cfg.eval.folds, subject_seed(cfg.run.seed, d.subject) * 1000003ULL));
  for (int a = 0; a < 3; ++a) write_ints(dir / ("au" + std::to_string(a) + ".txt"), presence(d.intensity[a], 2.0));
  for (const auto& [tag, m] : d.embeddings) write_matrix(dir / (tag + ".txt"), m);
  auto out = run_python(
      "import numpy as np\n"
      "from sklearn.linear_model import LogisticRegression\nfrom sklearn.cluster import DBSCAN\n"
      "from sklearn.preprocessing import StandardScaler\nfrom sklearn.metrics import f1_score, precision_score, recall_score\n"
      "y=np.loadtxt('idio.txt',dtype=int);folds=np.loadtxt('folds.txt',dtype=int)\n"
      "aus=np.stack([np.loadtxt('au%d.txt'%a,dtype=int) for a in range(3)],1)\n"
      "def detect(tag):\n"
      "  x=StandardScaler().fit_transform(np.loadtxt(tag+'.txt'));p=np.zeros(len(y),dtype=int)\n"
      "  for f in range(3):\n"
      "    tr=folds!=f;m=LogisticRegression(C=" + std::to_string(cfg.eval.c) + ",tol=1e-10,max_iter=100000).fit(x[tr],y[tr])\n"
      "    p[~tr]=m.predict(x[~tr])\n"
      "  return f1_score(y,p)\n"
      "def profiles(lab):\n"
      "  return {l:aus[lab==l].mean(0) for l in sorted(set(lab))}\n"
      "def corr(a,b):\n"
      "  return 0.0 if a.std()==0 or b.std()==0 else float(np.corrcoef(a,b)[0,1])\n"
      "lp=DBSCAN(eps=" + std::to_string(cfg.eval.chosen_eps) + ",min_samples=" + std::to_string(cfg.eval.chosen_min_samples) + ")"
      ".fit(StandardScaler().fit_transform(np.loadtxt('psm.txt'))).labels_\n"
      "lg=DBSCAN(eps=" + std::to_string(cfg.eval.chosen_eps) + ",min_samples=" + std::to_string(cfg.eval.chosen_min_samples) + ")"
      ".fit(StandardScaler().fit_transform(np.loadtxt('gm.txt'))).labels_\n"
      "pp={l:v for l,v in profiles(lp).items() if v.any()};pg={l:v for l,v in profiles(lg).items() if v.any()}\n"
      "M=np.array([[corr(a,b)-np.abs(a-b).sum() for b in pg.values()] for a in pp.values()])\n"
      "M=(M-M.min())/(M.max()-M.min()) if M.max()>M.min() else np.ones_like(M)\n"
      "thr=" + std::to_string(cfg.eval.novel_threshold) + "\n"
      "nov_p={l for i,l in enumerate(pp) if not (M[i]>thr).any()};nov_g={l for k,l in enumerate(pg) if not (M[:,k]>thr).any()}\n"
      "for lab,nov in ((lp,nov_p),(lg,nov_g)):\n"
      "  z=np.isin(lab,list(nov)).astype(int);both=int((z*y).sum())\n"
      "  reach=sum(int((z*np.roll(y,-k)).sum())>=both for k in range(len(y)))\n"
      "  print(int(z.sum()),both,precision_score(y,z,zero_division=0),recall_score(y,z,zero_division=0),reach/len(y))\n"
      "print(detect('psm'),detect('gm'),detect('untrained'))\n",
      dir.path());
  ASSERT_EQ(out.size(), 13u);
  for (int m = 0; m < 2; ++m) {
    const auto& c = disc["clusters"][m == 0 ? "psm" : "gm"];
    SCOPED_TRACE(m == 0 ? "psm" : "gm");
    EXPECT_EQ(c["novel_frames"].get<int>(), static_cast<int>(out[5 * m]));
    EXPECT_EQ(c["both"].get<int>(), static_cast<int>(out[5 * m + 1]));
    EXPECT_NEAR(c["precision"].get<double>(), out[5 * m + 2], 1e-12);
    EXPECT_NEAR(c["recall"].get<double>(), out[5 * m + 3], 1e-12);
    EXPECT_NEAR(c["p_value"].get<double>(), out[5 * m + 4], 1e-12);
  }
  EXPECT_GT(disc["clusters"]["psm"]["novel_frames"].get<int>(), 0);  // the comparison covers a real novel cluster
  EXPECT_NEAR(disc["detection"]["psm"]["f1"].get<double>(), out[10], 0.02);
  EXPECT_NEAR(disc["detection"]["gm"]["f1"].get<double>(), out[11], 0.02);
  EXPECT_NEAR(disc["detection"]["untrained"]["f1"].get<double>(), out[12], 0.02);
  EXPECT_GT(out[10], 0.9);
  EXPECT_LT(out[11], out[10]);
}
