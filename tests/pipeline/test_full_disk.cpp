// Real stages on a full disk (issue 16): `psmflow run` on 3 synthetic people, tiny preset, with
// tests/support/full_disk.c LD_PRELOADed so that writes to chosen files fail with ENOSPC, as a
// filling disk makes them fail. Each failure is recorded with the OS's reason and the path, no
// temporary file is left, the other people go on, and the rerun after space is freed redoes only
// what did not finish.
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "psmflow/core/fs.hpp"
#include "psmflow/embedded_config.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/store/manifest.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = run_psmflow("synth --out " + shell_quote((dir_ / "data").string()) + " --subjects 3 --frames 60");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::string text = kDemoConfigToml;
    text = std::regex_replace(text, std::regex("\nids = \\[[^\\]]*\\]"), "\nids = [\"S01\", \"S02\", \"S03\"]");
    text = std::regex_replace(text, std::regex("\nepochs = [0-9]+"), "\nepochs = 1");
    text = std::regex_replace(text, std::regex("\nbootstraps = [0-9]+"), "\nbootstraps = 20");
    write_text(config_, text);
  }

  // `psmflow run` with the files matching `full` (full_disk.c's patterns) on a full disk.
  CommandResult run(const std::string& full = "") {
    std::string env;
    if (!full.empty())
      env = "PSMFLOW_TEST_FULL_DISK=" + shell_quote(full) + " LD_PRELOAD=" + shell_quote(PSMFLOW_FULL_DISK_SHIM) +
            "${LD_PRELOAD:+:$LD_PRELOAD} ";
    return run_shell("cd " + shell_quote(dir_.path().string()) + " && " + env +
                     shell_quote(psmflow_binary().string()) + " run " + shell_quote(config_.string()));
  }

  Manifest manifest() const { return Manifest(RunDir(dir_ / "run")); }

  void expect_failed_for_space(const std::string& subject, const std::string& stage, const std::string& path) {
    auto r = manifest().get(subject, stage);
    ASSERT_TRUE(r) << subject << " " << stage << " has no record";
    EXPECT_EQ(r->status, Status::failed) << subject << " " << stage;
    EXPECT_NE(r->error.find("No space left on device"), std::string::npos) << r->error;
    EXPECT_NE(r->error.find(path), std::string::npos) << r->error;
    EXPECT_EQ(r->error.find(kTempMarker), std::string::npos) << "names a temporary that is gone: " << r->error;
  }

  void expect_no_temporaries() const {
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "run")) EXPECT_FALSE(is_temp_name(e.path())) << e.path();
  }

  ScratchDir dir_;
  fs::path config_ = dir_ / "run.toml";
};

}  // namespace

// S01's embeddings, S02's eval.json and S03's PSM record (after its "running" record) meet a full disk.
// S03's failure is still recorded, over the running record's own bytes, with the reason.
TEST_F(FullDisk, EachFailedWriteIsRecordedAndTheRerunRedoesOnlyWhatDidNotFinish) {
  auto first = run("*/subjects/S01/embeddings/*:*/subjects/S02/eval.*:*/manifest/S03/psm.*@1");
  EXPECT_NE(first.exit_code, 0) << first.output;
  expect_failed_for_space("S01", stage::embed, "subjects/S01/embeddings/psm.h5");
  expect_failed_for_space("S02", stage::evaluate, "subjects/S02/eval.json");
  EXPECT_FALSE(fs::exists(dir_ / "run/subjects/S02/eval.json"));
  // Its done record could not be written, so the failure is written over its running record.
  expect_failed_for_space("S03", stage::psm, "manifest/S03/psm.json");
  EXPECT_NE(first.output.find("No space left on device"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("manifest/S03/psm.json"), std::string::npos) << first.output;
  auto s02 = manifest().get("S02", stage::embed);
  EXPECT_TRUE(s02 && s02->status == Status::done) << "S02 did not go on past S01's full disk";
  expect_no_temporaries();
  std::map<std::pair<std::string, std::string>, int> done_first;  // -> attempt
  for (const auto& r : manifest().all())
    if (r.status == Status::done) done_first[{r.subject, r.stage}] = r.attempt;

  auto again = run();
  ASSERT_EQ(again.exit_code, 0) << again.output;
  for (const std::string id : {"S01", "S02", "S03"})
    for (const auto& st : {stage::preprocess, stage::psm, stage::embed, stage::evaluate}) {
      auto r = manifest().get(id, st);
      ASSERT_TRUE(r) << id << " " << st;
      EXPECT_EQ(r->status, Status::done) << id << " " << st << ": " << r->error;
    }
  for (const auto& [key, attempt] : done_first) {
    if (key.second == stage::collect) continue;  // the report is always written anew
    EXPECT_EQ(manifest().get(key.first, key.second)->attempt, attempt) << key.first << " " << key.second << " was redone";
  }
  EXPECT_TRUE(done_first.count({"S01", stage::psm}) && done_first.count({"S02", stage::embed}));
  EXPECT_TRUE(fs::exists(dir_ / "run/report/report.json"));
  expect_no_temporaries();
}
