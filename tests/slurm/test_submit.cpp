// Submission order, dependencies, array splitting and jobs.json, with a recording scheduler.
#include <gtest/gtest.h>

#include <sstream>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/slurm/shards.hpp"
#include "psmflow/slurm/submit.hpp"
#include "support/test_support.hpp"

namespace psmflow {
namespace {

struct RecordingScheduler : slurm::Scheduler {
  struct Call {
    fs::path script;
    std::vector<std::string> after;
    fs::path cwd;
  };
  std::vector<Call> calls;
  int next_id = 100, max_array = 3, max_array_asked = 0;
  std::string submit(const fs::path& script, const std::vector<std::string>& after, const fs::path& cwd) override {
    calls.push_back({script, after, cwd});
    return std::to_string(next_id++);
  }
  std::optional<std::vector<slurm::JobState>> query(const std::vector<std::string>&) override { return {}; }
  int max_array_size() override {
    ++max_array_asked;
    return max_array;
  }
};

Config seven_subjects(const fs::path& run) {
  return parse_config("[run]\nrun_dir = \"" + run.string() +
                          "\"\n[data]\nids = [\"A\", \"B\", \"C\", \"D\", \"E\", \"F\", \"G\"]\n"
                          "input = \"/d/{id}.avi\"\n[slurm]\npsmflow_bin = \"/bin/true\"\n",
                      "/c.toml", false);
}

TEST(SlurmSubmit, SplitsArraysAndChainsDependencies) {
  test::ScratchDir dir;
  Config cfg = seven_subjects(dir.path());
  auto ctx = slurm::make_context(cfg, dir.path());
  ctx.shard_count = 7;
  RecordingScheduler sched;
  slurm::JobsFile jobs{"/c.toml", 7, {}, ""};
  slurm::RoundRequest req;
  req.shards = {0, 1, 2, 3, 4, 5, 6};
  std::ostringstream out;
  slurm::submit_round(ctx, sched, req, jobs, out);

  EXPECT_EQ(sched.max_array_asked, 1);
  ASSERT_EQ(sched.calls.size(), 5u);  // 3 arrays (3+3+1), GM, collector
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(sched.calls[i].after.empty());
  EXPECT_EQ(sched.calls[3].after, (std::vector<std::string>{"100", "101", "102"}));
  EXPECT_EQ(sched.calls[4].after, (std::vector<std::string>{"100", "101", "102", "103"}));
  EXPECT_EQ(sched.calls[0].cwd, dir.path());
  std::string third = read_file(sched.calls[2].script);
  EXPECT_NE(third.find("#SBATCH --array=0-0\n"), std::string::npos);
  EXPECT_NE(third.find("SHARDS=(6)"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(dir / "slurm/logs"));

  auto loaded = slurm::JobsFile::load(dir.path());
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->rounds.size(), 1u);
  EXPECT_EQ(loaded->rounds[0].arrays[1].shards, (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(loaded->task_of_shard(4), "101_1");
  EXPECT_EQ(loaded->latest_gm(), "103");
  EXPECT_EQ(loaded->latest_collect(), "104");
}

TEST(SlurmSubmit, DryRunPrintsAndWritesNothing) {
  test::ScratchDir dir;
  Config cfg = seven_subjects(dir / "run");
  auto ctx = slurm::make_context(cfg, dir / "run");
  ctx.shard_count = 7;
  RecordingScheduler sched;
  slurm::JobsFile jobs{"/c.toml", 7, {}, ""};
  slurm::RoundRequest req;
  req.shards = {0, 1, 2, 3, 4, 5, 6};
  req.dry_run = true;
  req.max_array_size = 1001;
  std::ostringstream out;
  slurm::submit_round(ctx, sched, req, jobs, out);
  EXPECT_TRUE(sched.calls.empty());
  EXPECT_EQ(sched.max_array_asked, 0);
  EXPECT_FALSE(fs::exists(dir / "run"));
  EXPECT_NE(out.str().find("#SBATCH --array=0-6\n"), std::string::npos);
  EXPECT_NE(out.str().find("--dependency=afterany:<array-0-job-id>:<gm-job-id>"), std::string::npos) << out.str();
}

TEST(SlurmSubmit, ResumeOnlyUnfinishedShardsNotInQueue) {
  slurm::RunStatus s;
  s.unfinished_shards = {1, 4, 6};
  s.active_shards = {4};
  s.run_level[stage::gm] = Status::done;
  s.run_level[stage::collect] = Status::done;
  auto p = slurm::plan_resume(s);
  EXPECT_EQ(p.shards, (std::vector<int>{1, 6}));
  EXPECT_TRUE(p.gm);
  EXPECT_TRUE(p.collect);

  s.unfinished_shards.clear();
  s.run_level[stage::collect] = Status::failed;
  p = slurm::plan_resume(s);
  EXPECT_TRUE(p.shards.empty());
  EXPECT_FALSE(p.gm);
  EXPECT_TRUE(p.collect);

  s.run_level[stage::collect] = Status::done;
  EXPECT_TRUE(slurm::plan_resume(s).nothing_to_do());

  s.shards = 8;
  p = slurm::plan_resume(s, /*config_changed=*/true);
  EXPECT_EQ(p.shards, (std::vector<int>{0, 1, 2, 3, 5, 6, 7}));  // all but the queued shard 4
  EXPECT_TRUE(p.gm && p.collect);

  s.gm_active = true;
  EXPECT_FALSE(slurm::plan_resume(s).blocked.empty());
}

TEST(SlurmSubmit, DamagedJobsFileIsAClearError) {
  test::ScratchDir dir;
  test::write_text(dir / "slurm/jobs.json", "{\"rounds\": 3");
  try {
    slurm::JobsFile::load(dir.path());
    ADD_FAILURE() << "damaged jobs.json accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("jobs.json"), std::string::npos);
  }
}

TEST(SlurmSubmit, SbatchParsableOutputAndFailures) {
  std::vector<std::string> seen;
  slurm::CommandOutput reply{0, "4812;clusterA\n", ""};
  slurm::SlurmScheduler sched([&](const std::vector<std::string>& argv, const fs::path&) {
    seen = argv;
    return reply;
  });
  EXPECT_EQ(sched.submit("/r/gm.sbatch", {"7", "8"}, "/r"), "4812");
  EXPECT_EQ(seen, (std::vector<std::string>{"sbatch", "--parsable", "--dependency=afterany:7:8", "/r/gm.sbatch"}));
  reply = {1, "", "sbatch: error: Batch job submission failed: Invalid account or account/partition combination"};
  try {
    sched.submit("/r/array-0.sbatch", {}, "/r");
    ADD_FAILURE() << "failed sbatch accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Invalid account"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/r/array-0.sbatch"), std::string::npos) << e.what();
  }
  reply = {1, "", "scontrol: error: Unable to contact slurm controller"};
  EXPECT_THROW(sched.max_array_size(), UsageError);
}

TEST(SlurmSubmit, CliDryRunPrintsScriptsAndCreatesNothing) {
  test::ScratchDir dir;
  test::write_text(dir / "v/A.avi", "");
  test::write_text(dir / "v/B.avi", "");
  test::write_text(dir / "c.toml", "[run]\nrun_dir = \"run\"\n[data]\nids = [\"A\", \"B\"]\ninput = \"v/{id}.avi\"\n");
  auto r = test::run_psmflow("submit --dry-run " + test::shell_quote((dir / "c.toml").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* part : {"array-0.sbatch =====", "gm.sbatch =====", "collect.sbatch =====", "#SBATCH --array=0-1\n",
                           "--shard \"$shard/$SHARD_COUNT\" --stage subject", "# would run: cd "})
    EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
  EXPECT_FALSE(fs::exists(dir / "run"));
}

}  // namespace
// Defect 9 of issue 16: without a working Slurm, submit says which part is missing before it
// writes anything (no run directory is left behind).
TEST(SlurmSubmit, WithoutAWorkingSlurmNothingIsWrittenAndTheReasonIsPlain) {
  test::ScratchDir dir;
  test::write_text(dir / "d/A.avi", "");
  test::write_text(dir / "c.toml", "[run]\nrun_dir = \"run\"\n[data]\nids = [\"A\"]\ninput = \"d/{id}.avi\"\n");
  fs::create_directories(dir / "empty");
  const std::string submit = test::shell_quote(test::psmflow_binary().string()) + " submit " +
                             test::shell_quote((dir / "c.toml").string());
  auto none = test::run_shell("PATH=" + test::shell_quote((dir / "empty").string()) + " " + submit);
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("sbatch is not on PATH"), std::string::npos) << none.output;
  EXPECT_FALSE(fs::exists(dir / "run"));

  for (const char* tool : {"sbatch", "squeue"}) test::write_text(dir / "bin" / tool, "#!/bin/sh\nexit 0\n");
  test::write_text(dir / "bin/scontrol", "#!/bin/sh\necho 'Unable to contact slurm controller (connect failure)' >&2\nexit 1\n");
  for (const char* tool : {"sbatch", "squeue", "scontrol"}) fs::permissions(dir / "bin" / tool, fs::perms::owner_all);
  auto down = test::run_shell("PATH=" + test::shell_quote((dir / "bin").string()) + ":/usr/bin:/bin " + submit);
  EXPECT_EQ(down.exit_code, 2) << down.output;
  EXPECT_NE(down.output.find("the Slurm controller does not answer"), std::string::npos) << down.output;
  EXPECT_NE(down.output.find("Unable to contact slurm controller"), std::string::npos) << down.output;
  EXPECT_EQ(down.output.find("max_array_size"), std::string::npos) << "advice that only moves the failure on";
  EXPECT_FALSE(fs::exists(dir / "run"));
}

}  // namespace psmflow
