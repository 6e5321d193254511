// Runs each job kind end to end through `psmflow run JOB` on 3 synthetic people with the tiny
// preset and a few epochs, and checks that the report carries that experiment's results.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "psmflow/embedded_config.hpp"
#include "psmflow/core/fs.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

// One cohort for every test of this binary: synthesising it is the slow part.
class JobsRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir();
    auto r = run_psmflow("synth --out " + shell_quote((dir_->path() / "data").string()) + " --subjects 3 --frames 80");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }

  // The demo config on this cohort, with training shortened to seconds.
  static fs::path config(const std::string& name) {
    std::string text = kDemoConfigToml;
    text = std::regex_replace(text, std::regex("\nids = \\[[^\\]]*\\]"), "\nids = [\"S01\", \"S02\", \"S03\"]");
    text = std::regex_replace(text, std::regex("\nrun_dir = \"run\""), "\nrun_dir = \"" + name + "\"");
    text = std::regex_replace(text, std::regex("\nepochs = [0-9]+"), "\nepochs = 2");
    text = std::regex_replace(text, std::regex("\ncheckpoint_every = [0-9]+"), "\ncheckpoint_every = 1");
    text = std::regex_replace(text, std::regex("\nbootstraps = [0-9]+"), "\nbootstraps = 20");
    fs::path p = dir_->path() / (name + ".toml");
    write_text(p, text);
    return p;
  }

  static nlohmann::json run_job(const std::string& name, const std::string& job_keys) {
    fs::path cfg = config(name);
    fs::path job = dir_->path() / (name + "-job.toml");
    write_text(job, "[job]\nconfig = " + shell_quote(cfg.string()) + "\n" + job_keys);
    auto r = run_psmflow("run " + shell_quote(job.string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    fs::path report = dir_->path() / name / "report" / "report.json";
    if (!fs::exists(report)) {
      ADD_FAILURE() << "no report at " << report << "\n" << r.output;
      return {};
    }
    EXPECT_TRUE(fs::exists(dir_->path() / name / "report" / "report.html"));
    return nlohmann::json::parse(read_file(report));
  }

  static ScratchDir* dir_;
};
ScratchDir* JobsRun::dir_ = nullptr;

}  // namespace

TEST_F(JobsRun, PsmVersusGm) {
  auto r = run_job("pvg", "kind = \"psm-vs-gm\"\n");
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r.dump().find("\"failed\":[{"), std::string::npos) << r.dump(1).substr(0, 2000);
  EXPECT_NE(r.dump().find("psm"), std::string::npos);
  EXPECT_NE(r.dump().find("gm"), std::string::npos);
}

TEST_F(JobsRun, TransferLearningFourApproaches) {
  auto r = run_job("tl", "kind = \"transfer\"\nlong_epochs = 2\nshort_epochs = 1\n");
  ASSERT_FALSE(r.is_null());
  ASSERT_TRUE(r.contains("transfer")) << r.dump(1).substr(0, 2000);
  ASSERT_FALSE(r["transfer"].is_null()) << "the report has no transfer results";
  std::string t = r["transfer"].dump();
  for (const char* approach : {"scratch", "gm", "psm"}) EXPECT_NE(t.find(approach), std::string::npos) << approach << " in " << t;
}

TEST_F(JobsRun, CtlVersusPsmEveryEpoch) {
  auto r = run_job("ctl", "kind = \"ctl\"\nepochs = 2\nevery = 1\n");
  ASSERT_FALSE(r.is_null());
  ASSERT_TRUE(r.contains("ctl"));
  ASSERT_FALSE(r["ctl"].is_null()) << "the report has no CTL results";
  std::string c = r["ctl"].dump();
  EXPECT_NE(c.find('1'), std::string::npos) << c;
  EXPECT_NE(c.find('2'), std::string::npos) << c;
}
