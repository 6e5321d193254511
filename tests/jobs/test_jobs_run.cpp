// Runs each job kind end to end through `psmflow run JOB` on 2 synthetic people with the tiny
// preset and a few epochs, one after another on one run directory as a user would, and checks that
// the report carries each experiment's results and that later jobs reuse what earlier ones trained.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "psmflow/embedded_config.hpp"
#include "psmflow/core/fs.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

class JobsRun : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = run_psmflow("synth --out " + shell_quote((dir_.path() / "data").string()) + " --subjects 2 --frames 60");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  // The demo config on this cohort, with training shortened to seconds.
  fs::path config(const std::string& name) {
    std::string text = kDemoConfigToml;
    text = std::regex_replace(text, std::regex("\nids = \\[[^\\]]*\\]"), "\nids = [\"S01\", \"S02\"]");
    text = std::regex_replace(text, std::regex("\nrun_dir = \"run\""), "\nrun_dir = \"" + name + "\"");
    text = std::regex_replace(text, std::regex("\nepochs = [0-9]+"), "\nepochs = 2");
    text = std::regex_replace(text, std::regex("\ncheckpoint_every = [0-9]+"), "\ncheckpoint_every = 1");
    text = std::regex_replace(text, std::regex("\nbootstraps = [0-9]+"), "\nbootstraps = 20");
    fs::path p = dir_.path() / (name + ".toml");
    write_text(p, text);
    return p;
  }

  // Runs a job on the run directory "run" and returns its report and the job's output.
  std::pair<nlohmann::json, std::string> run_job(const std::string& name, const std::string& job_keys) {
    fs::path cfg = config("run");
    fs::path job = dir_.path() / (name + "-job.toml");
    write_text(job, "[job]\nconfig = " + shell_quote(cfg.string()) + "\n" + job_keys);
    auto r = run_psmflow("run " + shell_quote(job.string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    fs::path report = dir_.path() / "run" / "report" / "report.json";
    if (!fs::exists(report)) {
      ADD_FAILURE() << "no report at " << report << "\n" << r.output;
      return {};
    }
    EXPECT_TRUE(fs::exists(dir_.path() / "run" / "report" / "report.html"));
    return {nlohmann::json::parse(read_file(report)), r.output};
  }

  ScratchDir dir_;
};

}  // namespace

TEST_F(JobsRun, EveryKindOnOneRunDirectory) {
  auto [pvg, pvg_out] = run_job("pvg", "kind = \"psm-vs-gm\"\n");
  ASSERT_FALSE(pvg.is_null());
  EXPECT_EQ(pvg.dump().find("\"failed\":[{"), std::string::npos) << pvg.dump(1).substr(0, 2000);
  EXPECT_TRUE(pvg["headline"].contains("psm")) << pvg["headline"].dump();
  EXPECT_TRUE(pvg["headline"].contains("gm")) << pvg["headline"].dump();

  // The transfer job's long PSMs are the ones psm-vs-gm trained: it trains only the fine-tunes.
  auto [tl, tl_out] = run_job("tl", "kind = \"transfer\"\nlong_epochs = 2\nshort_epochs = 1\n");
  ASSERT_FALSE(tl.is_null());
  ASSERT_TRUE(tl.contains("transfer") && !tl["transfer"].is_null()) << "the report has no transfer results";
  for (const char* approach : {"psm", "tl-gm", "tl-psm", "tl-scratch"})
    EXPECT_TRUE(tl["transfer"].contains(approach)) << approach << " in " << tl["transfer"].dump();
  EXPECT_NE(tl_out.find("S01 psm: already done, skipped"), std::string::npos) << "S01's PSM was trained again:\n" << tl_out;

  auto [ctl, ctl_out] = run_job("ctl", "kind = \"ctl\"\nepochs = 2\nevery = 1\n");
  ASSERT_FALSE(ctl.is_null());
  ASSERT_TRUE(ctl.contains("ctl") && !ctl["ctl"].is_null()) << "the report has no CTL results";
  for (const char* series : {"psm", "ctl"}) {
    ASSERT_TRUE(ctl["ctl"].contains(series)) << ctl["ctl"].dump();
    std::vector<int> epochs;
    for (const auto& p : ctl["ctl"][series]) epochs.push_back(p["epoch"]);
    EXPECT_EQ(epochs, (std::vector<int>{1, 2})) << series << ": " << ctl["ctl"][series].dump();
  }
  EXPECT_TRUE(ctl.contains("transfer") && !ctl["transfer"].is_null()) << "the transfer results are still scored";
}
