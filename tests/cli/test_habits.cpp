// What users coming from other HPC tools try first: --version, the defaults in the help, and
// `mpirun -n K psmflow demo`.
#include <gtest/gtest.h>

#include <string>

#include "psmflow/config/config.hpp"
#include "support/test_support.hpp"

using namespace psmflow;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(Habits, VersionNamesEveryLibraryAndWhereTheDataAndPluginAre) {
  auto r = test::run_psmflow("--version");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* line :
       {"\ncommit: ", "\nMPI: Open MPI v", "\nOpenCV: 4.", "\nHDF5: 1.", "\nLibTorch: ", "\nCUDA: ", "\nNCCL: "})
    EXPECT_EQ(count(r.output, line), 1u) << line << " in\n" << r.output;
  const fs::path build = test::psmflow_binary().parent_path();
  EXPECT_NE(r.output.find("\nplugin: " + (build / "libpsmflow_torch.so").string() + "\n"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\ndata: " + (build / "share/psmflow").string() + "\n"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("not loaded"), std::string::npos) << r.output;
}

TEST(Habits, HelpShowsTheBuiltInDefaults) {
  const Config d = default_config();
  auto train = test::run_psmflow("help train");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  for (const std::string& s : {"[run] seed, " + std::to_string(d.run.seed),
                               "epochs, " + std::to_string(d.psm.epochs) + " / " + std::to_string(d.gm.epochs),
                               "batch, " + std::to_string(d.psm.batch) + " / " + std::to_string(d.gm.batch),
                               "[model] preset, " + d.model.preset, "[run] device, " + d.run.device})
    EXPECT_NE(train.output.find(s), std::string::npos) << s << " in\n" << train.output;
  for (const char* flag : {"--seed", "--epochs", "--batch", "--lr"})
    EXPECT_NE(train.output.find(flag), std::string::npos) << flag;
  auto embed = test::run_psmflow("help embed");
  EXPECT_NE(embed.output.find("[run] seed, " + std::to_string(d.run.seed)), std::string::npos) << embed.output;
}

// Three ranks of the demo would race on one folder: all stop before writing anything, and the
// user reads once what to run instead.
TEST(HabitsMpi, DemoUnderMpirunRefusesAtOnceAndSaysWhatToRun) {
  test::ScratchDir dir;
  const fs::path out = dir / "D";
  auto r = test::run_shell("mpirun --allow-run-as-root --oversubscribe -n 3 " +
                           test::shell_quote(test::psmflow_binary().string()) + " demo --out " +
                           test::shell_quote(out.string()));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(out)) << "the demo started writing under mpirun";
  EXPECT_EQ(count(r.output, "started under mpirun as 3 process(es)"), 1u) << r.output;
  EXPECT_NE(r.output.find("`psmflow demo --out " + out.string() + "`"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("`mpirun -n 3 psmflow run " + (out / "demo.toml").string() + "`"), std::string::npos)
      << r.output;
}
