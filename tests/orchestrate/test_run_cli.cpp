// `psmflow run` as a user runs it: the real binary, under its own mpirun where a rank must die.
#include <gtest/gtest.h>

#include <set>

#include "support/cohort.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/store/manifest.hpp"

using namespace psmflow;
using namespace psmflow::test;
using psmflow::pipeline::subject_chain;

namespace {

std::string mpirun(int n) {
  return "timeout 150 mpirun --allow-run-as-root --oversubscribe --bind-to none -n " + std::to_string(n) + " ";
}

std::string hook_env(const fs::path& log, const std::string& rules) {
  return "PSMFLOW_TEST_STAGE_CMD=" + shell_quote(fake_hook()) + " PSMFLOW_FAKE_LOG=" + shell_quote(log.string()) +
         " PSMFLOW_FAKE_RULES=" + shell_quote(rules) + " PSMFLOW_FAKE_SLEEP=0.05 ";
}

}  // namespace

TEST(RunCli, KilledRankEndsTheJobAndARerunRedoesNothingFinished) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 8);
  fs::path log1 = dir / "work1.log", log2 = dir / "work2.log";
  std::string run = shell_quote(psmflow_binary().string()) + " run " + shell_quote(cfg.string()) + " --stage subject";
  // S07 is handed out late (small input); its psm stage kills the rank running it.
  auto first = run_shell(hook_env(log1, "S07:psm:killparent") + mpirun(3) + run);
  EXPECT_NE(first.exit_code, 0) << first.output;
  EXPECT_NE(first.exit_code, 124) << "the job hung after a rank died:\n" << first.output;

  Config c = load_config(cfg);
  Manifest m(RunDir(c.run.run_dir));
  std::set<std::pair<std::string, std::string>> done_before;
  for (const auto& r : m.all())
    if (r.status == Status::done) done_before.insert({r.subject, r.stage});
  EXPECT_FALSE(done_before.empty()) << first.output;
  EXPECT_LT(done_before.size(), 8u * subject_chain().size());

  auto second = run_shell(hook_env(log2, "") + mpirun(3) + run);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  for (const auto& w : read_work_log(log2))
    EXPECT_FALSE(done_before.count({w.subject, w.stage})) << w.subject << " " << w.stage << " was done and ran again";
  for (int i = 1; i <= 8; ++i)
    for (const auto& step : subject_chain()) {
      auto r = m.get("S0" + std::to_string(i), step.record);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, Status::done);
    }
  auto s07 = m.get("S07", stage::psm);
  EXPECT_EQ(s07->attempt, 2) << "the interrupted attempt is counted";
}

TEST(RunCli, StageCommandsThatAreNotBuiltStopTheRunWithAMessage) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 3);
  // No test hook: the real stage commands. Until they are built they exit 2; once they are, the
  // dummy input files fail preprocessing (exit 1). Either way the run must end promptly, not loop.
  auto r = run_shell("timeout 120 " + shell_quote(psmflow_binary().string()) + " run " + shell_quote(cfg.string()));
  EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << r.output;
  if (r.exit_code == 2) {
    EXPECT_NE(r.output.find("not built yet"), std::string::npos) << r.output;
  }
}

TEST(RunCli, RejectsBadUsage) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 2);
  EXPECT_EQ(run_psmflow("run " + shell_quote(cfg.string()) + " --shard 3/3").exit_code, 2);
  EXPECT_EQ(run_psmflow("run " + shell_quote(cfg.string()) + " --stage frobnicate").exit_code, 2);
  EXPECT_EQ(run_psmflow("run " + shell_quote((dir / "missing.toml").string())).exit_code, 2);
}

TEST(RunCli, ShardRunsOnlyItsSubjects) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 5);
  fs::path log = dir / "work.log";
  auto r = run_shell(hook_env(log, "") + shell_quote(psmflow_binary().string()) + " run " + shell_quote(cfg.string()) +
                     " --shard 1/2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> subjects;
  for (const auto& w : read_work_log(log)) subjects.insert(w.subject);
  EXPECT_EQ(subjects, (std::set<std::string>{"S02", "S04"}));
}
