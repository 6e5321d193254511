// The shipped job files parse, and each kind expands on a 3-subject cohort into the right graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "psmflow/core/error.hpp"
#include "psmflow/eval/jobs.hpp"
#include "psmflow/core/fs.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::eval;

namespace {

Config cohort() {
  return parse_config(R"([run]
run_dir = "/runs/r"
[data]
[[data.subject]]
id = "S01"
input = "v/S01.avi"
[[data.subject]]
id = "S02"
input = "v/S02.avi"
[[data.subject]]
id = "S03"
input = "v/S03.avi"
[train.psm]
checkpoint_every = 10
)", "/cfg/c.toml", false);
}

JobSpec job(const std::string& body) { return parse_job("[job]\nconfig = \"c.toml\"\n" + body, "/cfg/job.toml"); }

const JobStep& step(const std::vector<JobStep>& steps, const std::string& id) {
  auto it = std::find_if(steps.begin(), steps.end(), [&](const JobStep& s) { return s.id == id; });
  if (it == steps.end()) throw std::runtime_error("no step " + id);
  return *it;
}

bool has_args(const JobStep& s, const std::vector<std::string>& want) {
  return std::search(s.args.begin(), s.args.end(), want.begin(), want.end()) != s.args.end();
}

// Every dependency comes before its step, and the config is passed to every command.
void expect_ordered(const std::vector<JobStep>& steps) {
  std::set<std::string> seen;
  for (const auto& s : steps) {
    for (const auto& a : s.after) EXPECT_TRUE(seen.count(a)) << s.id << " runs before " << a;
    EXPECT_TRUE(has_args(s, {"--config", "/cfg/c.toml"})) << s.id;
    seen.insert(s.id);
  }
}

int count_prefix(const std::vector<JobStep>& steps, const std::string& prefix) {
  return static_cast<int>(std::count_if(steps.begin(), steps.end(), [&](const JobStep& s) { return s.id.rfind(prefix, 0) == 0; }));
}

}  // namespace

TEST(Jobs, PsmVsGmOnThreeSubjects) {
  auto steps = expand_job(job("kind = \"psm-vs-gm\""), cohort());
  expect_ordered(steps);
  // 3 preprocess, 1 GM, 3 PSM, 3 x (psm, gm, untrained) embeddings, 3 evaluate, 1 collect.
  EXPECT_EQ(steps.size(), 20u);
  EXPECT_EQ(count_prefix(steps, "embed/"), 9);
  const JobStep& gm = step(steps, "train/_run/gm");
  EXPECT_EQ(gm.after.size(), 3u);
  EXPECT_TRUE(has_args(gm, {"--mode", "gm"}));
  EXPECT_TRUE(has_args(step(steps, "embed/S02/untrained"), {"--untrained"}));
  EXPECT_EQ(step(steps, "embed/S02/gm").after, std::vector<std::string>{"train/_run/gm"});
  EXPECT_EQ(step(steps, "evaluate/S01").after.size(), 3u);
  EXPECT_EQ(steps.back().id, "collect");
  EXPECT_EQ(steps.back().after.size(), 3u);
}

TEST(Jobs, TransferIsManyToMany) {
  auto steps = expand_job(job("kind = \"transfer\"\nlong_epochs = 500\nshort_epochs = 10"), cohort());
  expect_ordered(steps);
  // Beyond psm-vs-gm: per subject tl-gm, tl-scratch and one tl-psm per other subject (3 x 4 trains, 3 x 4 embeds).
  EXPECT_EQ(steps.size(), 20u + 12u + 12u);
  EXPECT_EQ(count_prefix(steps, "train/S01/tl-psm-"), 2);
  const JobStep& s = step(steps, "train/S01/tl-psm-S02");
  EXPECT_TRUE(has_args(s, {"--init", "/runs/r/subjects/S02/psm/final.pt"}));
  EXPECT_TRUE(has_args(s, {"--epochs", "10"}));
  EXPECT_TRUE(std::count(s.after.begin(), s.after.end(), "train/S02/psm"));
  EXPECT_THROW(step(steps, "train/S01/tl-psm-S01"), std::runtime_error);  // nobody seeds themselves
  const JobStep& g = step(steps, "train/S03/tl-gm");
  EXPECT_TRUE(has_args(g, {"--init", "/runs/r/gm/final.pt"}));
  EXPECT_TRUE(std::count(g.after.begin(), g.after.end(), "train/_run/gm"));
  EXPECT_FALSE(has_args(step(steps, "train/S03/tl-scratch"), {"--init"}));
  EXPECT_TRUE(has_args(step(steps, "train/S03/psm"), {"--epochs", "500"}));
  EXPECT_EQ(step(steps, "evaluate/S02").after.size(), 3u + 4u);
}

TEST(Jobs, CtlEmbedsEverySavedEpoch) {
  auto steps = expand_job(job("kind = \"ctl\"\nepochs = 30\nevery = 10"), cohort());
  expect_ordered(steps);
  // Beyond psm-vs-gm: a CTL run per subject and psm/ctl embeddings at epochs 10, 20, 30.
  EXPECT_EQ(steps.size(), 20u + 3u + 18u);
  EXPECT_TRUE(has_args(step(steps, "train/S01/ctl"), {"--mode", "psm-ctl"}));
  EXPECT_TRUE(has_args(step(steps, "train/S01/ctl"), {"--epochs", "30"}));
  const JobStep& e = step(steps, "embed/S01/ctl-e20");
  EXPECT_TRUE(has_args(e, {"--model", "ctl-e20", "--checkpoint", "/runs/r/subjects/S01/ctl/ckpt-e20.pt"}));
  EXPECT_EQ(e.after, std::vector<std::string>{"train/S01/ctl"});
  EXPECT_TRUE(has_args(step(steps, "embed/S02/psm-e30"), {"--checkpoint", "/runs/r/subjects/S02/psm/ckpt-e30.pt"}));
  EXPECT_EQ(step(steps, "evaluate/S03").after.size(), 3u + 6u);
}

TEST(Jobs, BadJobFilesNameFileLineAndKey) {
  auto message = [](const std::string& text) {
    try {
      parse_job(text, "/cfg/bad.toml");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("[job]\nkind = \"psm-vs-gm\"\nconfig = \"c.toml\"\nepoch = 3\n").find("/cfg/bad.toml:4: key 'job.epoch'"),
            std::string::npos);
  EXPECT_NE(message("[job]\nkind = \"fancy\"\nconfig = \"c.toml\"\n").find("not a job kind"), std::string::npos);
  EXPECT_NE(message("[job]\nkind = \"ctl\"\nconfig = \"c.toml\"\nshort_epochs = 3\n").find("not a key of a 'ctl' job"),
            std::string::npos);
  EXPECT_NE(message("[job]\nkind = \"ctl\"\n").find("needs config"), std::string::npos);
  EXPECT_NE(message("[job]\nkind = \"ctl\"\nconfig = \"c.toml\"\n[eval]\nc = 2\n").find("only a [job] table"), std::string::npos);
  EXPECT_THROW(expand_job(job("kind = \"ctl\"\nevery = 5"), cohort()), UsageError);  // checkpoints every 10
}

TEST(Jobs, ShippedJobsParseAndExpand) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(PSMFLOW_SOURCE_DIR) / "jobs")) {
    if (entry.path().extension() != ".toml") continue;
    ++n;
    SCOPED_TRACE(entry.path().string());
    ASSERT_TRUE(is_job_file(entry.path()));
    JobSpec j = load_job(entry.path());
    Config cfg = load_config(j.config, /*check_files=*/false);
    auto steps = expand_job(j, cfg);
    EXPECT_EQ(steps.back().id, "collect");
  }
  EXPECT_EQ(n, 6);
  EXPECT_FALSE(is_job_file(fs::path(PSMFLOW_SOURCE_DIR) / "configs" / "demo.toml"));
}

TEST(Jobs, LocalRunnerSkipsTheDependentsOfAFailure) {
  // A stand-in binary that fails the GM training and records every call.
  test::ScratchDir dir;
  fs::path fake = dir / "fake-psmflow", calls = dir / "calls.txt";
  test::write_text(fake, "#!/bin/sh\necho \"$*\" >> '" + calls.string() + "'\n"
                         "case \"$*\" in *\"--mode gm\"*) exit 1;; esac\nexit 0\n");
  fs::permissions(fake, fs::perms::owner_all);
  auto steps = expand_job(job("kind = \"psm-vs-gm\""), cohort());
  std::ostringstream log;
  JobRunResult r = run_job_steps(steps, fake, /*dry_run=*/false, log);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.failed, std::vector<std::string>{"train/_run/gm"});
  // Each subject's GM embedding, its evaluation, and the collector wait on the GM: 3 + 3 + 1 skipped.
  EXPECT_EQ(r.skipped.size(), 7u) << log.str();
  std::string ran = read_file(calls);
  EXPECT_NE(ran.find("train --config /cfg/c.toml --subject S03 --tag psm --mode psm"), std::string::npos) << ran;
  EXPECT_NE(ran.find("embed --config /cfg/c.toml --subject S01 --untrained"), std::string::npos) << ran;
  EXPECT_EQ(ran.find("collect"), std::string::npos);
  EXPECT_NE(log.str().find("evaluate/S02: skipped (needs embed/S02/gm"), std::string::npos) << log.str();

  std::ostringstream dry;
  fs::remove(calls);
  EXPECT_EQ(run_job_steps(steps, fake, /*dry_run=*/true, dry).exit_code, 0);
  EXPECT_FALSE(fs::exists(calls));
  EXPECT_NE(dry.str().find("[20/20] collect: "), std::string::npos) << dry.str();
}
