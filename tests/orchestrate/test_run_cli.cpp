// `psmflow run` as a user runs it: the real binary, under its own mpirun where a rank must die.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "support/cohort.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_lock.hpp"

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

// Every record checksums the output the registry declares for its stage; an output changed in
// place (same size) is found on the next run and only that stage of that subject is redone.
TEST(RunCli, ACorruptedOutputOfAnyStageIsRedoneOnRerun) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 2);
  fs::path log1 = dir / "work1.log", log2 = dir / "work2.log";
  std::string run = shell_quote(psmflow_binary().string()) + " run " + shell_quote(cfg.string());
  auto first = run_shell(hook_env(log1, "") + run);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  Config c = load_config(cfg);
  RunDir rd(c.run.run_dir);
  Manifest m(rd);
  const auto& pipe = pipeline::standard_pipeline();
  std::set<std::pair<std::string, std::string>> corrupted;
  for (const auto& st : pipe.stages()) {
    const bool run_scope = st.scope == pipeline::Scope::run;
    for (const std::string subject : {"S01", "S02"}) {
      if (run_scope && subject != "S01") continue;
      const std::string id = run_scope ? kRunScope : subject;
      const fs::path out = st.output(rd, id);
      auto r = m.get(id, st.name);
      ASSERT_TRUE(r) << id << " " << st.name;
      ASSERT_EQ(r->outputs.count(rd.relative(out)), 1u) << st.name << " does not checksum " << out;
      EXPECT_EQ(r->outputs.at(rd.relative(out)).sha256, sha256_file(out)) << out;
      if (subject != "S01" || st.name == stage::collect) continue;  // collect always reruns
      std::string bytes = read_file(out);
      bytes[0] = static_cast<char>(bytes[0] ^ 0x20);
      std::ofstream(out, std::ios::binary | std::ios::trunc) << bytes;
      corrupted.insert({id, st.name});
    }
  }
  auto second = run_shell(hook_env(log2, "") + run);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  std::set<std::pair<std::string, std::string>> redone;
  for (const auto& w : read_work_log(log2))
    if (w.stage != stage::collect) redone.insert({w.subject, w.stage});
  EXPECT_EQ(redone, corrupted);
}

// Two commands on one run directory (issue 16): the second exits 2 within seconds naming the holder;
// status still reads the run meanwhile; the first finishes undisturbed and releases the lock.
TEST(RunCli, ASecondRunOnTheSameRunDirectoryIsRefused) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 2);
  fs::path log = dir / "work.log";
  const std::string psmflow = shell_quote(psmflow_binary().string());
  const std::string run = psmflow + " run " + shell_quote(cfg.string());
  auto r = run_shell("cd " + shell_quote(dir.path().string()) + " && (" + hook_env(log, "S01:preprocess:sleep=10") +
                     run + " > first.log 2>&1 & first=$!; sleep 1.5; " + run + "; echo second=$?; " + psmflow +
                     " status run --no-slurm > /dev/null; echo status=$?; wait $first; echo first=$?)");
  EXPECT_NE(r.output.find("second=2\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is in use by process"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run.lock"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("status=0\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("first=0\n"), std::string::npos) << r.output << read_file(dir / "first.log");
  EXPECT_FALSE(fs::exists(dir / "run" / "run.lock"));
}

// A run killed with kill -9 leaves its lock behind; the next run takes it over and says so on the
// console, naming the command it took it from and why that is stale.
TEST(RunCli, ARerunTakesOverTheLockOfAKilledRunWithAWarning) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 1);
  const fs::path run_dir = load_config(cfg).run.run_dir;
  const pid_t killed = ::fork();
  if (killed == 0) {
    ::setenv("PSMFLOW_RUN_LOCK", "killed-run", 1);
    auto lock = RunLock::acquire(run_dir, "run killed.toml");
    ::_exit(0);  // as if killed: no release
  }
  ASSERT_GT(killed, 0);
  ::waitpid(killed, nullptr, 0);
  ASSERT_EQ(RunLock::read(run_dir)->token, "killed-run");
  auto r = run_shell(hook_env(dir / "work.log", "") + shell_quote(psmflow_binary().string()) + " run " +
                     shell_quote(cfg.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::size_t at = r.output.find("taking over a stale lock of run killed.toml");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::size_t line_start = r.output.rfind('\n', at) + 1;  // 0 on the first line
  const std::string line = r.output.substr(line_start, r.output.find('\n', at) - line_start);
  EXPECT_NE(line.find(" W] "), std::string::npos) << "not a warning: " << line;
  EXPECT_NE(line.find("process " + std::to_string(killed) + " is gone"), std::string::npos) << line;
  EXPECT_FALSE(fs::exists(RunLock::file(run_dir)));
}

// Defect 8 of issue 16: one subject whose video fails does not withhold the GM and the report
// from the others (as on Slurm); the run still exits 1 for the failure.
TEST(RunCli, AFailedSubjectLeavesTheGmAndReportToTheOthers) {
  ScratchDir dir;
  fs::path cfg = make_cohort(dir.path(), 2);
  auto r = run_shell(hook_env(dir / "work.log", "S02:preprocess:fail") + shell_quote(psmflow_binary().string()) +
                     " run " + shell_quote(cfg.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("GM: training on the frames of 1 of 2 subjects; without frames: S02"), std::string::npos)
      << r.output;
  Manifest m(RunDir(load_config(cfg).run.run_dir));
  for (const auto& [subject, st] : std::vector<std::pair<std::string, std::string>>{
           {kRunScope, stage::gm}, {"S01", stage::evaluate}, {kRunScope, stage::collect}})
    EXPECT_EQ(m.get(subject, st)->status, Status::done) << subject << " " << st;
  EXPECT_FALSE(m.get("S02", stage::evaluate));
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
