// What users coming from other HPC tools try first: --version, the defaults in the help, and
// `mpirun -n K psmflow demo`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

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

// libgomp spins long at its barriers unless told otherwise, which starves trainings that share
// cores: psmflow runs itself with a short spin count unless the user chose (docs/train.md "Threads").
TEST(Habits, OpenMpThreadsSpinBrieflyUnlessTheUserChose) {
  struct Saved {
    const char* name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved;
  for (const char* n : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"}) {
    const char* v = std::getenv(n);
    saved.push_back({n, v != nullptr, v ? v : ""});
    ::unsetenv(n);
  }
  auto r = test::run_psmflow("--version");
  EXPECT_NE(r.output.find("\nOpenMP wait: GOMP_SPINCOUNT=2000 (psmflow's default"), std::string::npos) << r.output;
  ::setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  r = test::run_psmflow("--version");
  EXPECT_NE(r.output.find("\nOpenMP wait: OMP_WAIT_POLICY=ACTIVE\n"), std::string::npos) << r.output;
  ::unsetenv("OMP_WAIT_POLICY");
  ::setenv("GOMP_SPINCOUNT", "1000", 1);
  r = test::run_psmflow("--version");
  EXPECT_NE(r.output.find("\nOpenMP wait: GOMP_SPINCOUNT=1000\n"), std::string::npos) << r.output;
  for (const auto& s : saved) s.had ? (void)::setenv(s.name, s.value.c_str(), 1) : (void)::unsetenv(s.name);
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
