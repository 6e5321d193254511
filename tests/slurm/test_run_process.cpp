// `psmflow run` between Slurm and the stages, without a cluster: a stop signal sent to `psmflow
// run` (SIGUSR2 from the batch script through srun, SIGTERM from scancel or mpirun) reaches the
// running stage child, which checkpoints; and the collector's exit status when subjects are missing.
// The stages are tests/slurm/stage_standin.cpp through dist's PSMFLOW_TEST_STAGE_CMD hook.
#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>

#include "psmflow/core/fs.hpp"
#include "support/test_support.hpp"

namespace psmflow {
namespace {

using nlohmann::json;

std::string q(const fs::path& p) { return test::shell_quote(p.string()); }

// Two subjects; each one's "video" tells the stand-in what to do ("slow N": N 0.3 s epochs, "fail").
void write_cohort(const fs::path& dir, const std::string& s01, const std::string& s02) {
  test::write_text(dir / "data/S01.avi", s01);
  test::write_text(dir / "data/S02.avi", s02);
  test::write_text(dir / "c.toml",
                   "[run]\nrun_dir = \"run\"\n[data]\nids = [\"S01\", \"S02\"]\ninput = \"data/{id}.avi\"\n");
}

// "cd DIR || exit 1; HOOK=... psmflow run c.toml": a simple command, so that `... & pid=$!` is its pid.
std::string run_command(const fs::path& dir) {
  std::string hook = "exec " + q(PSMFLOW_STAGE_STANDIN) + " \"$@\"";
  return "cd " + q(dir) + " || exit 1; PSMFLOW_TEST_STAGE_CMD=" + test::shell_quote(hook) + " " +
         q(test::psmflow_binary()) + " run c.toml";
}

// Starts `psmflow run` in the background, waits for S01's first training checkpoint, sends `sig` to
// `psmflow run` alone (to_stage: to the training stage alone, pid from its manifest record), waits
// for `psmflow run` and prints "exit N".
test::CommandResult run_and_signal(const fs::path& dir, const std::string& sig, bool to_stage = false) {
  std::string target = to_stage ? "$(sed -n 's/^ *\"pid\": \\([0-9]*\\).*/\\1/p' run/manifest/S01/psm.json)" : "$pid";
  return test::run_shell(run_command(dir) +
                         " >run.log 2>&1 & pid=$!; "
                         "for i in $(seq 300); do [ -s run/subjects/S01/psm/checkpoint ] && break; sleep 0.1; done; "
                         "kill -" +
                         sig + " " + target + "; wait $pid; echo \"exit $?\"");
}

json record(const fs::path& run, const std::string& subject, const std::string& stage) {
  return json::parse(read_file(run / "manifest" / subject / (stage + ".json")));
}

void expect_passed_on(const std::string& sig, int number, bool rerun) {
  test::ScratchDir dir;
  write_cohort(dir.path(), "slow 200\n", "");  // the larger input goes first: S01 trains for 60 s
  auto r = run_and_signal(dir.path(), sig);
  std::string log = fs::exists(dir / "run.log") ? read_file(dir / "run.log") : "";
  // Killed by the signal itself, `psmflow run` would exit 128 + number and its child would get
  // SIGTERM (15) from the parent-death signal instead of the one sent.
  EXPECT_EQ(r.output, "exit 3\n") << log;
  json psm = record(dir / "run", "S01", "psm");
  EXPECT_EQ(psm["status"], "interrupted") << psm.dump(1);
  EXPECT_NE(psm["error"].get<std::string>().find("interrupted by signal " + std::to_string(number)), std::string::npos)
      << psm.dump(1);
  EXPECT_EQ(psm["attempt"], 1) << "the stage's own record is kept";
  EXPECT_NE(log.find("passing it on to the running stage"), std::string::npos) << log;
  // The run stopped there: neither S01's embedding nor S02 was started.
  EXPECT_FALSE(fs::exists(dir / "run/manifest/S01/embed.json")) << log;
  EXPECT_FALSE(fs::exists(dir / "run/manifest/S02")) << log;
  int trained = std::stoi(read_file(dir / "run/subjects/S01/psm/checkpoint"));
  EXPECT_LT(trained, 100) << "the signal came after the first epoch, long before the last";
  if (!rerun) return;
  // Rerun (S01's shard alone): training continues from the checkpoint, each epoch once.
  test::write_text(dir / "data/S01.avi", "slow " + std::to_string(trained + 2) + "\n");
  auto again = test::run_shell(run_command(dir.path()) + " --shard 0/2 --stage subject");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(record(dir / "run", "S01", "psm")["status"], "done");
  EXPECT_EQ(record(dir / "run", "S01", "psm")["attempt"], 2);
  EXPECT_EQ(test::run_shell("wc -l < " + q(dir / "run/subjects/S01/psm/epochs.log")).output,
            std::to_string(trained + 2) + "\n");
}

TEST(SlurmRunProcess, Usr2ToPsmflowRunReachesTheTrainingStage) { expect_passed_on("USR2", SIGUSR2, true); }

TEST(SlurmRunProcess, TermToPsmflowRunReachesTheTrainingStage) { expect_passed_on("TERM", SIGTERM, false); }

// scancel and the time limit signal every process of the step: the stage may stop first. Its exit 3
// stops `psmflow run` too, instead of counting as a crash that is retried.
TEST(SlurmRunProcess, StageStoppedBeforePsmflowRunIsNotRetried) {
  test::ScratchDir dir;
  write_cohort(dir.path(), "slow 200\n", "");
  auto r = run_and_signal(dir.path(), "TERM", true);
  std::string log = fs::exists(dir / "run.log") ? read_file(dir / "run.log") : "";
  EXPECT_EQ(r.output, "exit 3\n") << log;
  json psm = record(dir / "run", "S01", "psm");
  EXPECT_EQ(psm["status"], "interrupted") << psm.dump(1);
  EXPECT_EQ(psm["attempt"], 1) << "retried: " << log;
  EXPECT_EQ(log.find("retrying"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "run/manifest/S02")) << log;
}

// The collector (a Slurm job of its own) exits 0 when it has reported what is there, although a
// subject failed upstream: that failure is its array task's, recorded and shown by `status`.
TEST(SlurmRunProcess, CollectorWithAMissingSubjectSucceeds) {
  test::ScratchDir dir;
  write_cohort(dir.path(), "", "fail\n");
  auto subject = test::run_shell(run_command(dir.path()) + " --stage subject");
  EXPECT_EQ(subject.exit_code, 1) << subject.output;
  auto gm = test::run_shell(run_command(dir.path()) + " --stage gm");
  EXPECT_EQ(gm.exit_code, 0) << gm.output;
  auto collect = test::run_shell(run_command(dir.path()) + " --stage collect");
  EXPECT_EQ(collect.exit_code, 0) << collect.output;
  json report = json::parse(read_file(dir / "run/report/report.json"));
  EXPECT_EQ(report["done"], "S01");
  EXPECT_EQ(report["missing"], "S02");
  auto status = test::run_psmflow("status --no-slurm --json " + q(dir / "run"));
  json s = json::parse(status.output.substr(status.output.find('{')));
  ASSERT_EQ(s["problems"].size(), 1u) << s.dump(1);
  EXPECT_EQ(s["problems"][0]["subject"], "S02");
  EXPECT_EQ(s["problems"][0]["status"], "failed");
  // A whole run (every stage in one allocation) with a failed subject still exits 1.
  auto all = test::run_shell(run_command(dir.path()));
  EXPECT_EQ(all.exit_code, 1) << all.output;
}

}  // namespace
}  // namespace psmflow
