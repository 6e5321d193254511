// The orchestrator under mpirun -n 1, 2, 3: every rank calls run_pipeline in-process; stage
// commands are the fake stage behind the test hook.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <map>
#include <set>

#include "support/cohort.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/orchestrate/run.hpp"
#include "psmflow/store/manifest.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

int world_size() {
  int w = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &w);
  return w;
}
int my_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

// A scratch folder made by rank 0 and known to all ranks (removed by rank 0).
class SharedScratch {
 public:
  SharedScratch() {
    std::string path;
    if (my_rank() == 0) {
      dir_ = std::make_unique<ScratchDir>();
      path = dir_->path().string();
    }
    int len = static_cast<int>(path.size());
    MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
    path.resize(static_cast<std::size_t>(len));
    MPI_Bcast(path.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
    path_ = path;
  }
  ~SharedScratch() { MPI_Barrier(MPI_COMM_WORLD); }
  const fs::path& path() const { return path_; }

 private:
  std::unique_ptr<ScratchDir> dir_;
  fs::path path_;
};

struct Fixture {
  SharedScratch scratch;
  fs::path config;
  Config cfg;
  fs::path log;
  explicit Fixture(int subjects) {
    if (my_rank() == 0) config = make_cohort(scratch.path(), subjects);
    MPI_Barrier(MPI_COMM_WORLD);
    config = scratch.path() / "run.toml";
    cfg = load_config(config);
    if (my_rank() == 0) RunDir::create(cfg);
    MPI_Barrier(MPI_COMM_WORLD);
    log = scratch.path() / "work.log";
  }
  int run(const std::string& stage, const std::string& rules, double sleep_s = 0) {
    setenv("PSMFLOW_FAKE_RULES", rules.c_str(), 1);
    setenv("PSMFLOW_FAKE_LOG", log.c_str(), 1);
    setenv("PSMFLOW_FAKE_SLEEP", std::to_string(sleep_s).c_str(), 1);
    orchestrate::RunOptions opt;
    opt.config = config;
    opt.stage = stage;
    opt.test_command = fake_hook();
    return orchestrate::run_pipeline(cfg, opt, MPI_COMM_WORLD);
  }
  Status status(const std::string& subject, const std::string& stage) const {
    auto r = Manifest(RunDir(cfg.run.run_dir)).get(subject, stage);
    return r ? r->status : Status::pending;
  }
};

std::vector<std::string> first_stage_order(const std::vector<WorkLine>& work) {
  std::vector<std::string> order;
  for (const auto& w : work)
    if (w.stage == stage::preprocess && w.attempt == 1) order.push_back(w.subject);
  return order;
}

}  // namespace

TEST(RunMpi, HandsOutLargestFirstAndDynamically) {
  Fixture f(6);
  int w = world_size();
  std::size_t chain = pipeline::subject_chain().size();
  // S01 (largest) stays busy until the other five subjects are through (its own two lines and
  // theirs): meanwhile the other workers must take all of them. With one worker nothing can.
  std::string rules = w > 1 ? "S01:psm:waitlog=" + std::to_string(2 + 5 * chain) : "";
  int rc = f.run("subject", rules, 0.02);
  EXPECT_EQ(rc, 0);
  if (my_rank() != 0) return;
  auto work = read_work_log(f.log);
  ASSERT_EQ(work.size(), 6 * chain);
  auto order = first_stage_order(work);
  // The first w hand-outs are the w largest subjects, in some order of start.
  std::vector<std::string> first(order.begin(), order.begin() + w), expect;
  for (int i = 1; i <= w; ++i) expect.push_back("S0" + std::to_string(i));
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, expect);
  if (w == 1) {
    EXPECT_EQ(order, (std::vector<std::string>{"S01", "S02", "S03", "S04", "S05", "S06"}));
  } else {
    std::map<int, std::set<std::string>> by_rank;
    for (const auto& l : work) by_rank[l.rank].insert(l.subject);
    int slow_rank = std::find_if(work.begin(), work.end(), [](const WorkLine& l) { return l.subject == "S01"; })->rank;
    EXPECT_EQ(by_rank[slow_rank], (std::set<std::string>{"S01"})) << "the busy worker got more subjects";
  }
  for (int i = 1; i <= 6; ++i)
    for (const auto& st : {stage::preprocess, stage::psm, stage::embed})
      EXPECT_EQ(f.status("S0" + std::to_string(i), st), Status::done);
}

TEST(RunMpi, IsolatesCrashesKillsAndFailures) {
  Fixture f(6);
  // S02 segfaults once (the retry succeeds), S03 is kill -9'ed on every attempt, S04 fails cleanly.
  int rc = f.run("subject", "S02:psm:segv:1,S03:preprocess:kill9,S04:embed:fail");
  EXPECT_EQ(rc, 1);
  if (my_rank() != 0) return;
  for (const char* s : {"S01", "S02", "S05", "S06"}) EXPECT_EQ(f.status(s, stage::embed), Status::done) << s;
  Manifest m{RunDir(f.cfg.run.run_dir)};
  auto s03 = m.get("S03", stage::preprocess);
  ASSERT_TRUE(s03);
  EXPECT_EQ(s03->status, Status::interrupted);
  EXPECT_NE(s03->error.find("SIGKILL"), std::string::npos) << s03->error;
  EXPECT_EQ(s03->attempt, 2);
  EXPECT_EQ(f.status("S03", stage::psm), Status::pending);
  EXPECT_EQ(f.status("S04", stage::embed), Status::failed);
  auto work = read_work_log(f.log);
  auto ranks_of = [&](const std::string& subject, const std::string& stage) {
    std::vector<int> ranks;
    for (const auto& l : work)
      if (l.subject == subject && l.stage == stage) ranks.push_back(l.rank);
    return ranks;
  };
  auto s02 = ranks_of("S02", stage::psm), s03r = ranks_of("S03", stage::preprocess);
  ASSERT_EQ(s02.size(), 2u);
  ASSERT_EQ(s03r.size(), 2u);
  EXPECT_EQ(ranks_of("S04", stage::embed).size(), 1u) << "a clean failure is not retried";
  if (world_size() > 1) {
    EXPECT_NE(s02[0], s02[1]) << "the retry ran on the worker where it crashed";
    EXPECT_NE(s03r[0], s03r[1]) << "the retry ran on the worker where it crashed";
  }
}

TEST(RunMpi, StageThatIsNotBuiltStopsTheRun) {
  Fixture f(6);
  int rc = f.run("all", "S01:psm:usage,S02:psm:usage,S03:psm:usage,S04:psm:usage,S05:psm:usage,S06:psm:usage", 0.05);
  EXPECT_EQ(rc, 2);
  if (my_rank() != 0) return;
  auto work = read_work_log(f.log);
  // No retries, nothing after the stop beyond what was already running.
  for (const auto& l : work) EXPECT_EQ(l.attempt, 1);
  EXPECT_LE(first_stage_order(work).size(), static_cast<std::size_t>(2 * world_size()));
  EXPECT_FALSE(fs::exists(RunDir(f.cfg.run.run_dir).manifest_dir() / kRunScope / "gm.json"));
}

TEST(RunMpi, WholePipelineAndRerunSkipsEverything) {
  Fixture f(4);
  EXPECT_EQ(f.run("all", ""), 0);
  if (my_rank() == 0) {
    for (const auto& st : {stage::gm, stage::collect}) EXPECT_EQ(f.status(kRunScope, st), Status::done) << st;
    for (int i = 1; i <= 4; ++i)
      for (const auto& st : {stage::embed_gm, stage::evaluate})
        EXPECT_EQ(f.status("S0" + std::to_string(i), st), Status::done);
    EXPECT_EQ(read_work_log(f.log).size(), 4 * (pipeline::subject_chain().size() + pipeline::gm_chain().size()) + 2);
    fs::remove(f.log);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(f.run("all", ""), 0);
  // Only the run-level stage commands start again, and they find their records done.
  if (my_rank() == 0) {
    EXPECT_TRUE(read_work_log(f.log).empty());
  }
}
