// On a real Slurm (a private single-node cluster per test, tools/slurm-cluster): submit, status,
// resume, failures, time-limit requeues and array splitting. RealPipeline... runs the real pipeline
// on a tiny synthetic cohort; the others swap the stages for stand-ins to reach failures,
// cancellations and time limits in seconds: tests/slurm/standin.sh in place of `psmflow run`
// ([slurm] psmflow_bin), or the real `psmflow run` with the stage commands swapped for
// tests/slurm/stage_standin.cpp (PSMFLOW_TEST_STAGE_CMD); both write manifest records as the stages do.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "psmflow/core/fs.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "support/test_support.hpp"

namespace psmflow {
namespace {

using nlohmann::json;
const fs::path kTestDir = PSMFLOW_SLURM_TEST_DIR;
const fs::path kStandin = kTestDir / "standin.sh";

std::string q(const fs::path& p) { return test::shell_quote(p.string()); }

// Starts the cluster in its own folder and stops it (by pid files) whatever happens to the test.
class Cluster {
 public:
  explicit Cluster(const fs::path& dir, int max_array = 1001) : dir_(dir) {
    auto r = test::run_shell(q(fs::path(PSMFLOW_TOOLS_DIR) / "slurm-cluster") + " start " + q(dir) +
                             " --max-array-size " + std::to_string(max_array));
    up_ = r.exit_code == 0;
    output_ = r.output;
    ::setenv("SLURM_CONF", (dir / "slurm.conf").c_str(), 1);
  }
  ~Cluster() { test::run_shell(q(fs::path(PSMFLOW_TOOLS_DIR) / "slurm-cluster") + " stop " + q(dir_)); }
  bool up() const { return up_; }
  const std::string& output() const { return output_; }

 private:
  fs::path dir_;
  bool up_ = false;
  std::string output_;
};

bool cluster_possible(std::string& why) {
  if (::geteuid() != 0)
    why = "the private Slurm cluster needs root";
  else if (test::run_shell("command -v slurmctld slurmd sbatch").exit_code != 0)
    why = "slurm-wlm is not installed";
  return why.empty();
}

#define START_CLUSTER(var, ...)                      \
  std::string why_;                                  \
  if (!cluster_possible(why_)) GTEST_SKIP() << why_; \
  Cluster var(__VA_ARGS__);                          \
  ASSERT_TRUE(var.up()) << var.output();

struct Cohort {
  fs::path config;
  fs::path run;
};

// n subjects with empty "videos" (the stand-ins do not decode them); behaviour: id -> fail|slow for
// standin.sh. shell_standin = false keeps the real `psmflow run` (stages swapped by the test hook).
Cohort make_cohort(const fs::path& dir, int n, int per_task, const std::string& slurm_extra,
                   const std::map<std::string, std::string>& behaviour = {}, const fs::path& run_name = "run",
                   bool shell_standin = true) {
  Cohort c{dir / "cohort.toml", dir / run_name};
  std::string ids;
  std::string list;
  for (int i = 1; i <= n; ++i) {
    std::string id = "S0" + std::to_string(i);
    test::write_text(dir / "data" / (id + ".avi"), "");
    ids += (i > 1 ? ", \"" : "\"") + id + "\"";
    list += id + "\n";
  }
  test::write_text(c.config, "[run]\nrun_dir = \"run\"\n[data]\nids = [" + ids +
                                 "]\ninput = \"data/{id}.avi\"\n"
                                 "[slurm]\nsubjects_per_task = " +
                                 std::to_string(per_task) + "\ncpus_per_task = 1\nmem = \"100M\"\n" +
                                 (shell_standin ? "psmflow_bin = \"" + kStandin.string() + "\"\n" : "") +
                                 (slurm_extra.find("time =") == std::string::npos ? "time = \"00:05:00\"\n" : "") +
                                 slurm_extra);
  test::write_text(c.run / "standin/subjects", list);
  std::string stages;
  for (const auto& st : pipeline::standard_pipeline().in_phase(0)) stages += st + "\n";
  test::write_text(c.run / "standin/stages", stages);
  test::write_text(c.run / "standin/epoch_s", "0.2");
  for (const auto& [id, what] : behaviour) test::write_text(c.run / "standin" / id, what + "\n");
  return c;
}

std::optional<json> record(const fs::path& run, const std::string& subject, const std::string& stage) {
  fs::path p = run / "manifest" / subject / (stage + ".json");
  if (!fs::exists(p)) return std::nullopt;
  try {
    return json::parse(read_file(p));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool stage_done(const fs::path& run, const std::string& subject, const std::string& stage) {
  auto r = record(run, subject, stage);
  return r && (*r)["status"] == "done";
}

bool wait_for(const std::function<bool()>& pred, int seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return pred();
}

std::string logs(const fs::path& run) {
  std::string out;
  if (fs::exists(run / "slurm/logs"))
    for (const auto& f : fs::directory_iterator(run / "slurm/logs"))
      out += "--- " + f.path().filename().string() + "\n" + read_file(f.path());
  return out + test::run_shell("squeue -h -t all -o '%i %T %r'").output;
}

json status_json(const fs::path& run) {
  auto r = test::run_psmflow("status --json " + q(run));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return json::parse(r.output.substr(r.output.find('{')));
}

json jobs_json(const fs::path& run) { return json::parse(read_file(run / "slurm/jobs.json")); }

// Epoch numbers of one subject's stand-in training log, and the distinct jobs that trained it.
std::pair<std::vector<int>, std::set<std::string>> epochs_trained(const fs::path& run, const std::string& id) {
  std::ifstream in(run / "subjects" / id / "psm" / "epochs.log");
  std::vector<int> epochs;
  std::set<std::string> runs;
  int e;
  std::string word, attempt, jobword, job;
  while (in >> e >> word >> attempt >> jobword >> job) {
    epochs.push_back(e);
    runs.insert(job + "/" + attempt);
  }
  return {epochs, runs};
}

// Submits the cohort, waits until S02 (shard 1 with S04) has trained 3 epochs (its stand-in
// checkpoint) and cancels shard 1's array task mid-training.
void submit_and_cancel_shard1_mid_training(const Cohort& c) {
  auto sub = test::run_psmflow("submit " + q(c.config));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  fs::path ckpt = c.run / "subjects/S02/psm/checkpoint";
  ASSERT_TRUE(wait_for([&] { return fs::exists(ckpt) && std::stoi(read_file(ckpt)) >= 3; }, 90)) << logs(c.run);
  std::string array_id = jobs_json(c.run)["rounds"][0]["arrays"][0]["job_id"];
  ASSERT_EQ(test::run_shell("scancel " + array_id + "_1").exit_code, 0);
}

// Slurm's state of every job and array task the run submitted ("COMPLETED", "FAILED", ...).
std::map<std::string, std::string> job_states(const fs::path& run) {
  std::string ids;
  const auto jobs = jobs_json(run);  // a named copy: a range-for over a temporary's member dangles
  for (const auto& round : jobs["rounds"]) {
    for (const auto& a : round["arrays"]) ids += a["job_id"].get<std::string>() + ",";
    for (const char* k : {"gm", "collect"})
      if (round.contains(k) && round[k] != "") ids += round[k].get<std::string>() + ",";
  }
  std::istringstream out(test::run_shell("squeue -h -r -t all -o '%i %T' -j " + ids).output);
  std::map<std::string, std::string> states;
  std::string id, state;
  while (out >> id >> state) states[id] = state;
  return states;
}

// Waits (up to 30 s) until no job or task of the run is pending, running or completing; their states.
std::map<std::string, std::string> all_jobs_ended(const fs::path& run) {
  static const std::set<std::string> active = {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED"};
  std::map<std::string, std::string> states;
  wait_for(
      [&] {
        states = job_states(run);
        for (const auto& [job, state] : states)
          if (active.count(state)) return false;
        return true;
      },
      30);
  return states;
}

std::vector<int> one_to(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i + 1;
  return v;
}

TEST(SlurmCluster, CohortOfFourInTwoShardsCompletes) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  // A hostile run directory: every script must quote it; nothing in it may run.
  const fs::path run_name = "run 'q' $(touch pwned) `touch pwned2` ;x";
  Cohort c = make_cohort(dir.path(), 4, 2, "", {{"S02", "slow"}}, run_name);
  test::write_text(c.run / "standin/slow_epochs", "8");
  auto sub = test::run_shell("cd " + q(dir.path()) + " && " + q(test::psmflow_binary()) +
                             " submit cohort.toml --run-dir " + q(c.run));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  // While the submission's jobs live, another writer is refused at once; a reader is not.
  auto foreign = test::run_shell("cd " + q(dir.path()) + " && " + q(test::psmflow_binary()) +
                                 " run cohort.toml --run-dir " + q(c.run));
  EXPECT_EQ(foreign.exit_code, 2) << foreign.output;
  EXPECT_NE(foreign.output.find("is in use by Slurm jobs"), std::string::npos) << foreign.output;
  EXPECT_EQ(test::run_psmflow("status " + q(c.run)).exit_code, 0);
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 120)) << logs(c.run);

  json jobs = jobs_json(c.run);
  ASSERT_EQ(jobs["rounds"].size(), 1u);
  EXPECT_EQ(jobs["shard_count"], 2);
  EXPECT_EQ(jobs["rounds"][0]["arrays"][0]["shards"], json({0, 1}));
  EXPECT_NE(jobs["rounds"][0]["gm"], "");
  EXPECT_NE(jobs["rounds"][0]["collect"], "");
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["done"], "S01,S02,S03,S04");

  // afterany: the GM started after every shard finished, the collector after the GM.
  std::string last_embed;
  for (const char* id : {"S01", "S02", "S03", "S04"})
    last_embed = std::max(last_embed, (*record(c.run, id, "embed"))["finished"].get<std::string>());
  EXPECT_GE((*record(c.run, "_run", "gm"))["started"].get<std::string>(), last_embed);
  EXPECT_GE((*record(c.run, "_run", "collect"))["started"].get<std::string>(),
            (*record(c.run, "_run", "gm"))["finished"].get<std::string>());

  json s = status_json(c.run);
  for (const char* st : {"preprocess", "psm", "embed"}) EXPECT_EQ(s["stages"][st]["done"], 4) << s.dump(2);
  EXPECT_EQ(s["run"]["gm"], "done");
  EXPECT_TRUE(s["scheduler_checked"]);
  EXPECT_TRUE(fs::exists(c.run / "slurm/logs"));
  std::string log_names;
  for (const auto& f : fs::directory_iterator(c.run / "slurm/logs")) log_names += f.path().filename().string() + " ";
  std::string array_id = jobs["rounds"][0]["arrays"][0]["job_id"];
  EXPECT_NE(log_names.find("-subj-" + array_id + "_1.out"), std::string::npos) << log_names;
  for (const auto& p : {dir / "pwned", dir / "pwned2", c.run / "pwned", fs::current_path() / "pwned"})
    EXPECT_FALSE(fs::exists(p)) << p;

  // Status asks Slurm once (a counting squeue in front of the real one).
  test::write_text(dir / "shim/squeue",
                   "#!/bin/sh\necho call >> " + q(dir / "squeue.calls") + "\nexec /usr/bin/squeue \"$@\"\n");
  fs::permissions(dir / "shim/squeue", fs::perms::owner_all);
  auto st = test::run_shell("PATH=" + q(dir / "shim") + ":$PATH " + q(test::psmflow_binary()) + " status " + q(c.run));
  EXPECT_EQ(st.exit_code, 0) << st.output;
  EXPECT_EQ(read_file(dir / "squeue.calls"), "call\n");
}

TEST(SlurmCluster, CancelledTaskIsInterruptedAndResumeRerunsOnlyItsShard) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  Cohort c = make_cohort(dir.path(), 4, 2, "", {{"S02", "slow"}});
  test::write_text(c.run / "standin/slow_epochs", "30");
  ASSERT_NO_FATAL_FAILURE(submit_and_cancel_shard1_mid_training(c));
  // The GM and the collector still run (afterany) and list what is missing.
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 90)) << logs(c.run);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["missing"], "S02,S04");

  json s = status_json(c.run);
  EXPECT_EQ(s["stages"]["psm"]["interrupted"], 1) << s.dump(2);
  EXPECT_EQ(s["unfinished_shards"], json({1}));
  bool listed = false;
  for (const auto& p : s["problems"]) listed |= p["subject"] == "S02" && p["status"] == "interrupted";
  EXPECT_TRUE(listed) << s.dump(2);

  std::map<fs::path, std::string> shard0;
  for (const char* id : {"S01", "S03"})
    for (const auto& f : fs::directory_iterator(c.run / "manifest" / id)) shard0[f.path()] = read_file(f.path());
  auto dry = test::run_psmflow("resume --dry-run " + q(c.run));
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("SHARDS=(1)\n"), std::string::npos) << dry.output;
  EXPECT_EQ(jobs_json(c.run)["rounds"].size(), 1u) << "a dry run submitted something";
  auto res = test::run_psmflow("resume " + q(c.run));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("resuming shards [1], GM, collector"), std::string::npos) << res.output;
  json jobs = jobs_json(c.run);
  ASSERT_EQ(jobs["rounds"].size(), 2u);
  EXPECT_EQ(jobs["rounds"][1]["kind"], "resume");
  ASSERT_EQ(jobs["rounds"][1]["arrays"].size(), 1u);
  EXPECT_EQ(jobs["rounds"][1]["arrays"][0]["shards"], json({1}));
  ASSERT_TRUE(wait_for(
      [&] {
        return stage_done(c.run, "S04", "embed") && stage_done(c.run, "_run", "collect") &&
               json::parse(read_file(c.run / "report/report.json"))["missing"] == "";
      },
      120))
      << logs(c.run);

  auto [epochs, runs] = epochs_trained(c.run, "S02");
  EXPECT_EQ(epochs, one_to(30)) << "training must continue from its checkpoint, each epoch once";
  EXPECT_EQ(runs.size(), 2u);
  for (const auto& [p, text] : shard0) EXPECT_EQ(read_file(p), text) << p << " was rewritten: shard 0 was rerun";
  auto again = test::run_psmflow("resume " + q(c.run));
  EXPECT_NE(again.output.find("nothing to resume"), std::string::npos) << again.output;
}

TEST(SlurmCluster, FailingShardStillRunsTheCollector) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  Cohort c = make_cohort(dir.path(), 4, 2, "", {{"S02", "fail"}});
  auto sub = test::run_psmflow("submit " + q(c.config));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 120)) << logs(c.run);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["missing"], "S02");
  std::string array_id = jobs_json(c.run)["rounds"][0]["arrays"][0]["job_id"];
  // Shard 1 (S02, S04 by the --shard rule) failed; shard 0 did not.
  auto state = test::run_shell("squeue -h -t all -j " + array_id + "_1 -o %T");
  EXPECT_EQ(state.output, "FAILED\n");
  json s = status_json(c.run);
  EXPECT_EQ(s["stages"]["preprocess"]["failed"], 1);
  ASSERT_EQ(s["problems"].size(), 1u) << s.dump(2);
  EXPECT_EQ(s["problems"][0]["error"], "bad input: no face found in the video of S02");
  auto text = test::run_psmflow("status " + q(c.run));
  EXPECT_NE(text.output.find("S02 preprocess failed: bad input"), std::string::npos) << text.output;
}

TEST(SlurmCluster, TimeLimitSignalCheckpointsRequeuesAndCompletes) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  // USR2 50 s before a 1-minute limit arrives 10 to 40 s into each run (slurmctld checks limits every
  // 30 s); 50 one-second epochs cannot finish in one run, so at least one requeue must happen.
  Cohort c =
      make_cohort(dir.path(), 1, 1, "time = \"00:01:00\"\nsignal_lead_s = 50\nmax_requeues = 4\n", {{"S01", "slow"}});
  test::write_text(c.run / "standin/slow_epochs", "50");
  test::write_text(c.run / "standin/epoch_s", "1");
  auto sub = test::run_psmflow("submit " + q(c.config));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 240)) << logs(c.run);
  std::string events = read_file(c.run / "slurm/events.jsonl");
  EXPECT_NE(events.find("\"event\":\"signal\""), std::string::npos) << events;
  EXPECT_NE(events.find("\"event\":\"requeue\""), std::string::npos) << events;
  EXPECT_EQ(events.find("gave-up"), std::string::npos) << events;
  json s = status_json(c.run);
  EXPECT_GE(s["requeues"], 1);
  EXPECT_EQ(s["gave_up"], json::array());
  auto [epochs, runs] = epochs_trained(c.run, "S01");
  EXPECT_EQ(epochs, one_to(50)) << "each epoch once: the requeued task continued from the checkpoint";
  EXPECT_GE(runs.size(), 2u);
  EXPECT_GE((*record(c.run, "S01", "psm"))["attempt"].get<int>(), 2);
  EXPECT_TRUE(stage_done(c.run, "S01", "embed"));
}

TEST(SlurmCluster, ArraysSplitAtTheClustersMaxArraySize) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster", 2);
  Cohort c = make_cohort(dir.path(), 5, 1, "");
  auto sub = test::run_psmflow("submit " + q(c.config));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 120)) << logs(c.run);
  json arrays = jobs_json(c.run)["rounds"][0]["arrays"];
  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[2]["shards"], json({4}));
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["done"], "S01,S02,S03,S04,S05");
  std::string last_embed;
  for (const char* id : {"S01", "S02", "S03", "S04", "S05"})
    last_embed = std::max(last_embed, (*record(c.run, id, "embed"))["finished"].get<std::string>());
  EXPECT_GE((*record(c.run, "_run", "gm"))["started"].get<std::string>(), last_embed);
}

TEST(SlurmCluster, HostileSubjectIdIsRejectedBeforeAnythingIsSubmitted) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  test::write_text(dir / "v.avi", "");
  test::write_text(dir / "bad.toml",
                   "[run]\nrun_dir = \"run\"\n[[data.subject]]\nid = \"S1$(touch pwned)\"\ninput = \"v.avi\"\n");
  auto r = test::run_psmflow("submit " + q(dir / "bad.toml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.toml:3: key 'data.subject.id'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run/slurm/jobs.json"));
  EXPECT_EQ(test::run_shell("squeue -h -t all").output, "");
  EXPECT_FALSE(fs::exists(dir / "pwned"));
}

// The real `psmflow run --shard --stage` (dist) under Slurm, with only the stage commands swapped
// for tests/slurm/stage_standin.cpp through dist's PSMFLOW_TEST_STAGE_CMD hook: real manifest
// records with config hashes, a failing subject, a cancelled task, then resume.
TEST(SlurmCluster, RealRunOrchestrationFailCancelResume) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  Cohort c = make_cohort(dir.path(), 4, 2, "", {}, "run", false);
  test::write_text(dir / "data/S02.avi", "slow\n");  // shard 1 = S02, S04
  test::write_text(dir / "data/S04.avi", "fail\n");  // bad input: fails when its turn comes
  ::setenv("PSMFLOW_TEST_STAGE_CMD", ("exec " + q(PSMFLOW_STAGE_STANDIN) + " \"$@\"").c_str(), 1);
  ASSERT_NO_FATAL_FAILURE(submit_and_cancel_shard1_mid_training(c));
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 120)) << logs(c.run);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["missing"], "S02,S04");
  // The collector did its work (a report listing what is missing): its job succeeded.
  std::string collector = jobs_json(c.run)["rounds"][0]["collect"];
  EXPECT_EQ(all_jobs_ended(c.run)[collector], "COMPLETED") << logs(c.run);
  json s = status_json(c.run);
  EXPECT_EQ(s["stages"]["psm"]["interrupted"], 1) << s.dump(2);
  EXPECT_EQ(s["unfinished_shards"], json({1}));
  std::set<std::string> problems;
  for (const auto& p : s["problems"])
    problems.insert(p["subject"].get<std::string>() + " " + p["stage"].get<std::string>() + " " +
                    p["status"].get<std::string>());
  EXPECT_TRUE(problems.count("S02 psm interrupted")) << s.dump(2);

  std::map<fs::path, std::string> shard0;
  for (const char* id : {"S01", "S03"})
    for (const auto& f : fs::directory_iterator(c.run / "manifest" / id)) shard0[f.path()] = read_file(f.path());
  auto res = test::run_psmflow("resume " + q(c.run));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("resuming shards [1], GM, collector"), std::string::npos) << res.output;
  // The failing subject does not hold up the GM or the collector; the report lists it as missing.
  ASSERT_TRUE(
      wait_for([&] { return json::parse(read_file(c.run / "report/report.json"))["done"] == "S01,S02,S03"; }, 150))
      << logs(c.run);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["missing"], "S04");
  s = status_json(c.run);
  ASSERT_EQ(s["problems"].size(), 1u) << s.dump(2);
  EXPECT_EQ(s["problems"][0]["error"], "bad input: no face found in the video of S04");
  EXPECT_EQ(s["stages"]["evaluate"]["done"], 3);
  ::unsetenv("PSMFLOW_TEST_STAGE_CMD");
  std::ifstream log(c.run / "subjects/S02/psm/epochs.log");
  std::vector<int> epochs;
  std::set<std::string> pids;
  int e;
  std::string word, pid;
  while (log >> e >> word >> pid) epochs.push_back(e), pids.insert(pid);
  EXPECT_EQ(epochs, one_to(20)) << "training continues from its checkpoint";
  EXPECT_EQ(pids.size(), 2u);
  EXPECT_EQ((*record(c.run, "S02", "psm"))["attempt"], 2);
  for (const auto& [p, text] : shard0) EXPECT_EQ(read_file(p), text) << p << " was rewritten: shard 0 was rerun";
}

// A shard whose embed-untrained fails (a stage the Slurm lists once left out, issue 11): status
// names it, resume resubmits that shard only, and the report ends complete.
TEST(SlurmCluster, FailedEmbedUntrainedIsShownAndResumedFromTheRegistry) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  Cohort c = make_cohort(dir.path(), 4, 2, "", {}, "run", false);
  test::write_text(dir / "data/S04.avi", "untrained-fails\n");  // shard 1 = S02, S04
  ::setenv("PSMFLOW_TEST_STAGE_CMD", ("exec " + q(PSMFLOW_STAGE_STANDIN) + " \"$@\"").c_str(), 1);
  auto sub = test::run_psmflow("submit " + q(c.config));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 120)) << logs(c.run);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["missing"], "S04");
  json s = status_json(c.run);
  EXPECT_EQ(s["stages"]["embed-untrained"]["failed"], 1) << s.dump(2);
  EXPECT_EQ(s["unfinished_shards"], json({1})) << s.dump(2);
  ASSERT_EQ(s["problems"].size(), 1u) << s.dump(2);
  EXPECT_EQ(s["problems"][0]["stage"], "embed-untrained");
  EXPECT_EQ(s["problems"][0]["error"], "untrained network of S04 failed");
  auto text = test::run_psmflow("status " + q(c.run));
  EXPECT_NE(text.output.find("S04 embed-untrained failed: untrained network of S04 failed"), std::string::npos)
      << text.output;

  std::map<fs::path, std::string> shard0;
  for (const char* id : {"S01", "S03"})
    for (const auto& f : fs::directory_iterator(c.run / "manifest" / id)) shard0[f.path()] = read_file(f.path());
  test::write_text(dir / "data/S04.avi", "\n");
  auto res = test::run_psmflow("resume " + q(c.run));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("resuming shards [1], GM, collector"), std::string::npos) << res.output;
  ASSERT_TRUE(wait_for(
      [&] {
        return stage_done(c.run, "S04", "evaluate") &&
               json::parse(read_file(c.run / "report/report.json"))["missing"] == "";
      },
      150))
      << logs(c.run);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["done"], "S01,S02,S03,S04");
  EXPECT_EQ((*record(c.run, "S04", "embed-untrained"))["attempt"], 2);
  EXPECT_EQ((*record(c.run, "S04", "psm"))["attempt"], 1) << "the shard's finished stages were redone";
  ::unsetenv("PSMFLOW_TEST_STAGE_CMD");
  for (const auto& [p, text] : shard0) EXPECT_EQ(read_file(p), text) << p << " was rewritten: shard 0 was rerun";
}

// The time-limit signal through the real `psmflow run`: USR2 reaches the step, the stage checkpoints
// and records "interrupted", the task requeues itself and the next run continues from the checkpoint.
TEST(SlurmCluster, RealRunTimeLimitRequeueContinuesFromCheckpoint) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  Cohort c =
      make_cohort(dir.path(), 1, 1, "time = \"00:01:00\"\nsignal_lead_s = 50\nmax_requeues = 4\n", {}, "run", false);
  test::write_text(dir / "data/S01.avi", "slow 150\n");  // 45 s of training: longer than one run gets
  ::setenv("PSMFLOW_TEST_STAGE_CMD", ("exec " + q(PSMFLOW_STAGE_STANDIN) + " \"$@\"").c_str(), 1);
  auto sub = test::run_psmflow("submit " + q(c.config));
  ::unsetenv("PSMFLOW_TEST_STAGE_CMD");
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  ASSERT_TRUE(wait_for([&] { return stage_done(c.run, "_run", "collect"); }, 240)) << logs(c.run);
  std::string events = read_file(c.run / "slurm/events.jsonl");
  EXPECT_NE(events.find("\"event\":\"requeue\""), std::string::npos) << events;
  std::ifstream log(c.run / "subjects/S01/psm/epochs.log");
  std::vector<int> epochs;
  std::set<std::string> pids;
  int e;
  std::string word, pid;
  while (log >> e >> word >> pid) epochs.push_back(e), pids.insert(pid);
  EXPECT_EQ(epochs, one_to(150)) << "each epoch once: every run continued from the checkpoint";
  EXPECT_GE(pids.size(), 2u);
  EXPECT_EQ(json::parse(read_file(c.run / "report/report.json"))["done"], "S01");
}

// A synthetic cohort of 4 people (60 frames of 160x120 each) and configs/demo.toml (tiny preset)
// with training cut to seconds, in 2 shards of 2 subjects. Returns the config file.
fs::path real_cohort(const fs::path& dir) {
  auto synth = test::run_psmflow("-q synth --out " + q(dir / "data") + " --subjects 4 --frames 60 --size 160x120");
  EXPECT_EQ(synth.exit_code, 0) << synth.output;
  std::string text = read_file(kTestDir / "../../configs/demo.toml");
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"epochs", "2"}, {"checkpoint_every", "1"}, {"sample_every", "1"}, {"bootstraps", "20"}})
    text = std::regex_replace(text, std::regex("\n" + key + " = [0-9]+"), "\n" + key + " = " + value);
  // The GM's 2 epochs above become 1: it trains on all four subjects at once.
  text = std::regex_replace(text, std::regex("(\\[train\\.gm\\][^\\[]*\nepochs = )[0-9]+"), "$011");
  text += "\n[slurm]\nsubjects_per_task = 2\ncpus_per_task = 1\nmem = \"1G\"\ntime = \"00:10:00\"\n";
  test::write_text(dir / "cohort.toml", text);
  return dir / "cohort.toml";
}

// The whole real pipeline under Slurm, no stand-ins: the array's two tasks preprocess, train and
// embed their shard, the GM job trains on all four, the collector embeds with the GM, evaluates and
// writes the report; every job ends COMPLETED.
TEST(SlurmCluster, RealPipelineFourSubjectsTwoShardsTinyPreset) {
  test::ScratchDir dir;
  START_CLUSTER(cluster, dir / "cluster");
  fs::path config = real_cohort(dir.path());
  fs::path run = dir / "run";
  auto sub = test::run_psmflow("submit " + q(config));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  ASSERT_TRUE(wait_for([&] { return stage_done(run, "_run", "collect"); }, 360)) << logs(run);

  const std::vector<std::string> ids = {"S01", "S02", "S03", "S04"};
  for (const auto& id : ids)
    for (const char* st : {"preprocess", "psm", "embed", "embed-untrained", "embed-gm", "evaluate"})
      EXPECT_TRUE(stage_done(run, id, st)) << id << " " << st << "\n" << logs(run);
  EXPECT_TRUE(stage_done(run, "_run", "gm"));
  json report = json::parse(read_file(run / "report/report.json"));
  EXPECT_EQ(report["subjects_evaluated"], 4) << report.dump(1).substr(0, 2000);
  EXPECT_EQ(report["missing"], json::array());
  std::set<std::string> named;
  for (const auto& row : report["per_subject"]) named.insert(row.value("subject", ""));
  EXPECT_EQ(named, std::set<std::string>(ids.begin(), ids.end()));
  std::string html = read_file(run / "report/report.html");
  for (const auto& id : ids) EXPECT_NE(html.find(id), std::string::npos) << id << " is not in report.html";
  // The collector's record is written before its job ends.
  auto states = all_jobs_ended(run);
  for (const auto& [job, state] : states) EXPECT_EQ(state, "COMPLETED") << job << "\n" << logs(run);
  EXPECT_EQ(states.size(), 4u) << "2 array tasks, GM and collector";
}

}  // namespace
}  // namespace psmflow
