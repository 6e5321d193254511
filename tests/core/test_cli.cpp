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
