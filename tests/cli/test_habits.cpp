// What users coming from other HPC tools try first: --version, the defaults in the help, and
// `mpirun -n K psmflow demo`.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
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

// The re-executed process must still be called psmflow (top, ps, `pkill psmflow`), not "exe".
// Preprocessing a FIFO blocks while it hashes the input, which leaves time to look at it.
TEST(Habits, AComputingCommandKeepsItsNameAfterReexecutingItself) {
  test::ScratchDir dir;
  const fs::path fifo = dir / "input.avi";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string bin = test::psmflow_binary().string(), run = (dir / "run").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::unsetenv("OMP_WAIT_POLICY");  // a user's choice would skip the re-execution
    ::unsetenv("GOMP_SPINCOUNT");
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(bin.c_str(), "psmflow", "preprocess", "--input", fifo.c_str(), "--subject", "S", "--run-dir", run.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  auto read_proc = [&](const char* what) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/" + what, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  bool reexecuted = false;
  for (int i = 0; i < 500 && !reexecuted; ++i) {
    reexecuted = read_proc("environ").find(std::string("PSMFLOW_OMP_SPIN_SET=1") + '\0') != std::string::npos;
    if (!reexecuted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string comm = read_proc("comm");
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ASSERT_TRUE(reexecuted) << "psmflow preprocess did not re-execute itself within 5 s";
  EXPECT_EQ(comm, "psmflow\n");
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
