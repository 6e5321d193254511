#include <gtest/gtest.h>

#include "support/test_support.hpp"

using psmflow::test::run_psmflow;

TEST(Cli, HelpListsEveryProductCommand) {
  auto r = run_psmflow("--help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* cmd : {"demo", "synth", "run", "submit", "status", "resume", "preprocess", "train", "embed",
                          "evaluate", "collect", "help"})
    EXPECT_NE(r.output.find(cmd), std::string::npos) << cmd;
}

TEST(Cli, HelpCommandDocumentsOneCommand) {
  auto r = run_psmflow("help demo");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--out"), std::string::npos) << r.output;
  EXPECT_EQ(run_psmflow("help nosuch").exit_code, 2);
}

TEST(Cli, BadUsageExitsTwo) {
  EXPECT_EQ(run_psmflow("").exit_code, 2);
  EXPECT_EQ(run_psmflow("frobnicate").exit_code, 2);
  EXPECT_EQ(run_psmflow("demo --no-such-option").exit_code, 2);
}

TEST(Cli, VersionExitsZero) {
  auto r = run_psmflow("--version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("psmflow: " PSMFLOW_VERSION "\n"), std::string::npos) << r.output;
}

// psmflow and libpsmflow.so copied without the LibTorch plugin: commands that need no LibTorch
// still run, and one that trains names the missing plugin file.
TEST(Cli, MissingTorchPluginIsNamedAndOtherCommandsRunWithoutIt) {
  using namespace psmflow::test;
  ScratchDir dir;
  const fs::path build = psmflow_binary().parent_path();
  fs::copy_file(psmflow_binary(), dir / "psmflow");
  fs::copy_file(build / "libpsmflow.so", dir / "libpsmflow.so");
  const std::string env = "LD_LIBRARY_PATH=" + shell_quote(dir.path().string()) + " ";
  const std::string exe = shell_quote((dir / "psmflow").string());

  auto version = run_shell(env + exe + " --version");
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_NE(version.output.find("LibTorch: not loaded"), std::string::npos) << version.output;

  auto train = run_shell(env + exe + " train --subject S01 --run-dir " + shell_quote((dir / "run").string()));
  EXPECT_NE(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find((dir / "libpsmflow_torch.so").string()), std::string::npos) << train.output;
}

// A command refused for its input makes no run directory: typed in the wrong folder, it leaves
// nothing to clean up.
TEST(Cli, UsageErrorsLeaveNoRunDirectory) {
  using namespace psmflow::test;
  ScratchDir dir;
  const std::string in_dir = "cd " + shell_quote(dir.path().string()) + " && " + shell_quote(psmflow_binary().string());
  for (const char* args : {" train", " train --mode psm-ctl", " embed", " evaluate", " preprocess --input nosuch.mp4 --subject A",
                           " embed --subject A --subject B --checkpoint " __FILE__, " train --subject ../up"}) {
    auto r = run_shell(in_dir + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_TRUE(fs::is_empty(dir.path())) << args << ": left " << fs::directory_iterator(dir.path())->path();
    fs::remove_all(dir / "run");
  }
  auto train = run_shell(in_dir + " train");
  EXPECT_NE(train.output.find("train: no subject (give --subject ID"), std::string::npos) << train.output;
}
