// Status reads the manifest and asks the scheduler once per run, however many tasks there are.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/slurm/status.hpp"
#include "support/test_support.hpp"

namespace psmflow {
namespace {

Config cohort(int n, int per_task) {
  std::string ids;
  for (int i = 0; i < n; ++i) ids += fmt::format("{}\"S{:04d}\"", i ? ", " : "", i);
  return parse_config(fmt::format("[run]\nrun_dir = \"/r\"\n[data]\nids = [{}]\ninput = \"/d/{{id}}.avi\"\n"
                                  "[slurm]\nsubjects_per_task = {}\n",
                                  ids, per_task),
                      "/c.toml", false);
}

Record rec(const std::string& subject, const std::string& stage, Status st, const std::string& host = "node7") {
  Record r;
  r.subject = subject;
  r.stage = stage;
  r.status = st;
  r.host = host;
  r.pid = 12345;
  r.attempt = 1;
  if (st == Status::failed) r.error = "bad input: no face";
  return r;
}

// Every stage an array task runs, as the registry declares them; the last one gets `last`.
void all_shard_stages(Manifest& m, const std::string& id, Status last) {
  const auto stages = slurm::shard_stages(pipeline::standard_pipeline());
  for (std::size_t i = 0; i < stages.size(); ++i) m.put(rec(id, stages[i], i + 1 == stages.size() ? last : Status::done));
}

TEST(SlurmStatus, ThousandTaskArrayCostsOneSchedulerCall) {
  test::ScratchDir dir;
  Config cfg = cohort(1000, 1);
  Manifest m{RunDir(dir.path())};
  // Plain writes: thousands of fsynced Manifest::put calls would take the test most of a minute.
  for (int i = 0; i < 1000; ++i)
    for (const auto& st : slurm::shard_stages(pipeline::standard_pipeline())) {
      std::string id = fmt::format("S{:04d}", i);
      test::write_text(dir.path() / "manifest" / id / (st + ".json"),
                       nlohmann::json{{"subject", id}, {"stage", st}, {"status", "done"}}.dump());
    }
  m.put(rec("S0005", stage::embed, Status::running));  // task 5 still runs
  m.put(rec("S0006", stage::embed, Status::running));  // task 6 was cancelled: record is stale
  m.put(rec("S0007", stage::psm, Status::failed));

  slurm::JobsFile jobs;
  jobs.shard_count = 1000;
  slurm::Round round{"submit", "", {{"500", {}}}, "501", "502", {}};
  for (int k = 0; k < 1000; ++k) round.arrays[0].shards.push_back(k);
  jobs.rounds.push_back(round);

  std::string squeue;
  for (int k = 0; k < 1000; ++k)
    squeue += fmt::format("500_{}|{}|None\n", k, k == 5 ? "RUNNING" : k == 6 ? "CANCELLED" : "COMPLETED");
  squeue += "501|PENDING|Dependency\n502|PENDING|Dependency\n";
  int calls = 0;
  std::vector<std::string> argv_seen;
  slurm::SlurmScheduler sched([&](const std::vector<std::string>& argv, const fs::path&) {
    ++calls;
    argv_seen = argv;
    return slurm::CommandOutput{0, squeue, ""};
  });
  slurm::RunStatus s = slurm::read_status(cfg, m, jobs, &sched);

  EXPECT_EQ(calls, 1);
  ASSERT_FALSE(argv_seen.empty());
  EXPECT_EQ(argv_seen[0], "squeue");
  EXPECT_NE(std::find(argv_seen.begin(), argv_seen.end(), "500,501,502"), argv_seen.end());
  EXPECT_TRUE(s.scheduler_checked);
  EXPECT_EQ(s.counts[stage::embed][Status::done], 998);
  EXPECT_EQ(s.counts[stage::embed][Status::running], 1);
  EXPECT_EQ(s.counts[stage::embed][Status::interrupted], 1);
  EXPECT_EQ(s.counts[stage::psm][Status::failed], 1);
  EXPECT_EQ(s.unfinished_shards, (std::vector<int>{5, 6, 7}));
  EXPECT_EQ(s.active_shards, (std::vector<int>{5}));
  EXPECT_TRUE(s.gm_active);
  ASSERT_EQ(s.problems.size(), 2u);
  EXPECT_EQ(s.problems[1].subject, "S0007");
  EXPECT_EQ(s.problems[1].error, "bad input: no face");
  std::string text = slurm::format_status(s);
  EXPECT_NE(text.find("S0006 embed interrupted"), std::string::npos) << text;
  EXPECT_EQ(slurm::status_json(s)["stages"]["embed"]["done"], 998);
}

TEST(SlurmStatus, WithoutSchedulerTheManifestDecides) {
  test::ScratchDir dir;
  Config cfg = cohort(2, 1);
  Manifest m{RunDir(dir.path())};
  all_shard_stages(m, "S0000", Status::done);
  Record stale = rec("S0001", stage::preprocess, Status::running, host_name());
  stale.pid = 999999999;  // no such process on this host
  m.put(stale);
  test::write_text(
      dir / "slurm/events.jsonl",
      "{\"job\":\"4_1\",\"restart\":0,\"event\":\"requeue\"}\n{\"job\":\"4_1\",\"event\":\"gave-up\"}\n{\"job\":\"4_");
  slurm::RunStatus s = slurm::read_status(cfg, m, std::nullopt, nullptr);
  EXPECT_EQ(s.requeues, 1);
  EXPECT_EQ(s.gave_up, (std::vector<std::string>{"4_1"}));
  EXPECT_FALSE(s.scheduler_checked);
  EXPECT_EQ(s.counts[stage::preprocess][Status::interrupted], 1);
  EXPECT_EQ(s.counts[stage::psm][Status::pending], 1);
  EXPECT_EQ(s.unfinished_shards, (std::vector<int>{1}));
  EXPECT_EQ(s.run_level[stage::gm], Status::pending);
}

// Defect 10 of issue 16: the run directory of `psmflow preprocess/train` (no subjects in its
// frozen config) reads; its subjects are the manifest's.
TEST(SlurmStatus, RunDirectoryOfTheSingleSubjectCommandsReads) {
  test::ScratchDir dir;
  Config cfg = default_config();
  cfg.run.run_dir = dir / "run";
  RunDir run = RunDir::create(cfg);
  Manifest m(run);
  m.put(rec("S1", stage::preprocess, Status::done));
  m.put(rec("S1", stage::psm, Status::failed));
  auto r = test::run_psmflow("status " + test::shell_quote(run.root().string()) + " --no-slurm");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 subjects in 1 shards"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("S1 psm failed: bad input: no face"), std::string::npos) << r.output;
}

TEST(SlurmStatus, UnreachableSlurmFallsBackToManifest) {
  test::ScratchDir dir;
  Config cfg = cohort(2, 2);
  Manifest m{RunDir(dir.path())};
  m.put(rec("S0000", stage::psm, Status::running));
  slurm::JobsFile jobs{"/c.toml", 1, {{"submit", "", {{"7", {0}}}, "8", "9", {}}}, ""};
  slurm::SlurmScheduler sched([](const std::vector<std::string>&, const fs::path&) {
    return slurm::CommandOutput{1, "", "slurm_load_jobs error: Unable to contact slurm controller"};
  });
  slurm::RunStatus s = slurm::read_status(cfg, m, jobs, &sched);
  EXPECT_FALSE(s.scheduler_checked);
  EXPECT_EQ(s.counts[stage::psm][Status::running], 1);  // on another host: believed
}

TEST(SlurmStatus, ParsesSqueueAndScontrol) {
  auto jobs = slurm::parse_squeue("12_0|RUNNING|None\n12_[1-3%1]|PENDING|JobArrayTaskLimit\n\n13|PENDING|Dependency\n");
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[1].id, "12_[1-3%1]");
  EXPECT_EQ(jobs[2].reason, "Dependency");
  EXPECT_EQ(slurm::parse_max_array_size("MailProg = /bin/mail\nMaxArraySize            = 5\nMaxJobCount = 1\n"), 5);
  EXPECT_EQ(slurm::parse_max_array_size("nothing"), 0);
}

// Found by reading what fuzz_slurm_output would feed it: std::stoi threw on a number past int,
// and the std::regex recursed once per character of a long line.
TEST(SlurmStatus, HostileScontrolOutputGivesNoArrayLimit) {
  EXPECT_EQ(slurm::parse_max_array_size("MaxArraySize = 99999999999999999999999\n"), 0);
  EXPECT_EQ(slurm::parse_max_array_size("MaxArraySize = -4\nMaxArraySize = 7\n"), 0);
  EXPECT_EQ(slurm::parse_max_array_size("MaxArraySize = 12abc\n"), 0);
  EXPECT_EQ(slurm::parse_max_array_size(std::string(1 << 20, ' ') + "MaxArraySize = 3" + std::string(1 << 20, ' ')), 3);
  EXPECT_EQ(slurm::parse_max_array_size(std::string(1 << 20, ' ') + "\n"), 0);
}

}  // namespace
}  // namespace psmflow
