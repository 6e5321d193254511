// psmflow demo: synthesise a small cohort, write the embedded demo config beside it, and run the
// whole pipeline on this machine (`psmflow run`), then say where the report is. Rerunning the
// same command resumes: the cohort is kept when it matches and finished stages are skipped.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <thread>

#include "command.hpp"
#include "psmflow/embedded_config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/video/synth.hpp"

namespace psmflow::cli {
namespace {

struct DemoArgs {
  std::string out = "psmflow-demo";
  int subjects = 4;
  int frames = 300;
  unsigned long long seed = 1;
};

bool cohort_matches(const synth::SynthOptions& o) {
  fs::path file = o.out / "cohort.json";
  if (!fs::exists(file)) return false;
  auto j = nlohmann::json::parse(read_file(file), nullptr, false);
  return !j.is_discarded() && j.value("subjects", 0) == o.subjects && j.value("frames", 0) == o.frames &&
         j.value("seed", 0ULL) == o.seed && j.value("truth_columns", "") == synth::kTruthColumns;
}

std::string demo_config(const DemoArgs& a) {
  std::string ids;
  for (int i = 0; i < a.subjects; ++i) ids += fmt::format("{}\"{}\"", i ? ", " : "", synth::subject_id(i));
  std::string text = std::regex_replace(kDemoConfigToml, std::regex("\nids = \\[[^\\]]*\\]"), "\nids = [" + ids + "]");
  return std::regex_replace(text, std::regex("\nseed = [0-9]+"), "\nseed = " + std::to_string(a.seed));
}

int run_child(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : kExitStageFailed;
}

// One MPI rank per core (at most one per subject) so subjects train side by side; without
// mpirun the same pipeline runs in one process tree.
std::vector<std::string> pipeline_command(const fs::path& config, int subjects) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  int ranks = std::min<int>(subjects, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (ranks < 2 || std::system("command -v mpirun >/dev/null 2>&1") != 0) return {self, "run", config.string()};
  if (::geteuid() == 0) {  // Open MPI refuses root unless told; the demo often runs in containers as root
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  return {"mpirun", "--oversubscribe", "--bind-to", "none", "-n", std::to_string(ranks), self, "run", config.string()};
}

// An MPI launcher's world size and this process's rank in it; size 0 when no launcher started us.
// Open MPI, MPICH/Intel MPI (Hydra) and MVAPICH each name them differently.
struct LauncherRank {
  int size = 0;
  int rank = 0;
};
LauncherRank launcher_rank() {
  const std::pair<const char*, const char*> vars[] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"},
                                                      {"PMI_SIZE", "PMI_RANK"},
                                                      {"MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"}};
  for (const auto& [size, rank] : vars)
    if (const char* s = std::getenv(size); s != nullptr) {
      const char* r = std::getenv(rank);
      return {std::max(1, std::atoi(s)), r ? std::atoi(r) : 0};
    }
  return {};
}

// The demo starts its own mpirun. K copies started by the user's mpirun would synthesise and run
// the same cohort into the same folder at once, and even one copy could not start a nested mpirun
// (Open MPI refuses recursive calls), so under any launcher it stops before touching anything.
// Rank 0 says why and exits 2; the others exit 0 quietly, because mpirun kills the whole job at the
// first non-zero exit, which could come before rank 0 has printed its message.
std::optional<int> refused_under_mpi(const DemoArgs& a) {
  const LauncherRank l = launcher_rank();
  if (l.size == 0) return std::nullopt;
  if (l.rank != 0) return kExitOk;
  fs::path out = fs::absolute(a.out);
  spdlog::error(
      "demo: started under mpirun as {} process(es); the demo starts its own MPI ranks (one per core), so run it "
      "once without mpirun: `psmflow demo --out {}`. To run the pipeline on ranks you choose, run the demo once, "
      "then `mpirun -n {} psmflow run {}`",
      l.size, out.string(), l.size, (out / "demo.toml").string());
  return kExitUsage;
}

int run_demo(const DemoArgs& a) {
  if (auto refused = refused_under_mpi(a)) return *refused;
  auto t0 = std::chrono::steady_clock::now();
  fs::path out = fs::absolute(a.out);
  synth::SynthOptions so;
  so.out = out / "data";
  so.subjects = a.subjects;
  so.frames = a.frames;
  so.seed = a.seed;
  if (cohort_matches(so)) {
    spdlog::info("demo: keeping the synthetic cohort in {}", so.out.string());
  } else {
    spdlog::info("demo: synthesising {} subjects x {} frames into {}", a.subjects, a.frames, so.out.string());
    synth::synthesize_cohort(so);
  }
  fs::path config = out / "demo.toml";
  write_file_atomic(config, demo_config(a));
  std::vector<std::string> cmd = pipeline_command(config, a.subjects);
  std::string line;
  for (const auto& w : cmd) line += (line.empty() ? "" : " ") + w;
  spdlog::info("demo: running the pipeline: {}", line);
  int rc = run_child(cmd);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fs::path report = out / "run" / "report" / "report.html";
  if (fs::exists(report)) spdlog::info("demo: report: {}", report.string());
  spdlog::info("demo: finished in {:.0f} s with exit status {}", secs, rc);
  return rc;
}

}  // namespace

Command add_demo(CLI::App& root) {
  CLI::App* sub = root.add_subcommand(
      "demo", "Synthesise a small cohort and run the whole pipeline on this machine (writes DIR/run/report/report.html)");
  auto a = std::make_shared<DemoArgs>();
  sub->add_option("--out", a->out, "Folder for the cohort, the config and the run")->capture_default_str();
  sub->add_option("--subjects", a->subjects, "People in the cohort")->check(CLI::Range(2, 99))->capture_default_str();
  sub->add_option("--frames", a->frames, "Frames per person")->check(CLI::Range(50, 100000))->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed of the cohort and the run")->capture_default_str();
  return {sub, [a] { return run_demo(*a); }};
}

}  // namespace psmflow::cli
