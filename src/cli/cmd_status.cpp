#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/slurm/status.hpp"

namespace psmflow::cli {
namespace {

struct StatusOptions {
  std::string run_dir;
  bool json = false;
  bool no_slurm = false;
};

int run_status(const StatusOptions& opt) {
  fs::path root = fs::absolute(opt.run_dir).lexically_normal();
  auto jobs = slurm::JobsFile::load(root);
  Config cfg = slurm::load_run_config(root, jobs);
  slurm::SlurmScheduler scheduler;
  Manifest manifest{RunDir(root)};
  slurm::RunStatus s = slurm::read_status(cfg, manifest, jobs, opt.no_slurm ? nullptr : &scheduler);
  if (opt.json)
    std::cout << slurm::status_json(s).dump(2) << "\n";
  else
    std::cout << "run " << root.string() << ": " << slurm::format_status(s);
  return kExitOk;
}

}  // namespace

Command add_status(CLI::App& root) {
  static StatusOptions opt;
  CLI::App* sub = root.add_subcommand(
      "status",
      "Per stage: done / running / failed / interrupted / pending counts, failed subjects with their "
      "errors; the manifest is the truth, Slurm is asked once (squeue) whether running work still runs");
  sub->add_option("run_dir", opt.run_dir, "Run directory")->required();
  sub->add_flag("--json", opt.json, "Machine-readable output");
  sub->add_flag("--no-slurm", opt.no_slurm, "Do not ask Slurm; read the manifest only");
  return {sub, [] { return run_status(opt); }};
}

}  // namespace psmflow::cli
