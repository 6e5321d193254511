// The paper's experiments as job files (jobs/*.toml) and their expansion into the stage commands
// that produce them. A job file is a [job] table naming the config it builds on:
//
//   [job]
//   kind = "transfer"                # psm-vs-gm | transfer | ctl
//   config = "../configs/disfa.toml" # relative to the job file
//   short_epochs = 10                # kind-specific keys, below
//
// psm-vs-gm: preprocess, PSM per subject, the GM, embeddings (psm, gm, untrained), evaluate, collect.
// transfer:  psm-vs-gm (its PSM is approach 1, "from scratch, long": long_epochs, default the config's)
//            plus per subject tl-gm (GM + short_epochs), tl-psm-<SRC> for every other subject SRC (that
//            subject's PSM + short_epochs: the many-to-many graph), and tl-scratch (short_epochs from scratch).
// ctl:       PSM and PSM-CTL (tag ctl) per subject for `epochs`, embedded at every `every` epochs
//            (tags psm-e<N>, ctl-e<N>) from their ckpt-e<N>.pt checkpoints, plus the GM and baselines.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"

namespace psmflow::eval {

struct JobSpec {
  std::filesystem::path file;    // the job file (absolute)
  std::string kind;              // psm-vs-gm | transfer | ctl
  std::filesystem::path config;  // the config it builds on (absolute)
  std::string description;
  int long_epochs = 0;   // transfer: epochs of the from-scratch PSM; 0 = [train.psm] epochs
  int short_epochs = 10; // transfer: epochs of the three short approaches
  int epochs = 0;        // ctl: epochs of both runs; 0 = [train.psm] epochs
  int every = 10;        // ctl: embed and score every N epochs
};

// Throws UsageError "FILE:LINE: key 'job.x': reason" on unknown keys, wrong types and bad values.
JobSpec load_job(const std::filesystem::path& file);
JobSpec parse_job(const std::string& text, const std::filesystem::path& origin);
// True when the TOML file has a [job] table (so `psmflow run FILE` treats it as a job).
bool is_job_file(const std::filesystem::path& file);

// One command of the expanded job: `psmflow <args...>` run as a child process once every step
// named in `after` has succeeded. Steps come in an order that respects `after`.
struct JobStep {
  std::string id;                  // unique: "train/S01/tl-psm-S02", "collect"
  std::string subject;             // "_run" for run-level steps (GM, collect)
  std::vector<std::string> args;   // e.g. {"train", "--config", C, "--subject", "S01", "--tag", "tl-gm", ...}
  std::vector<std::string> after;  // ids of the steps it needs
};

// The steps of a job for the subjects of cfg (loaded from spec.config); checkpoint paths follow
// the run directory layout (subjects/<id>/<tag>/final.pt, ckpt-e<N>.pt, gm/final.pt).
std::vector<JobStep> expand_job(const JobSpec& spec, const Config& cfg);

// The one-machine executor behind `psmflow run JOB`: runs each step as `binary args...` in order,
// skipping (and naming) every step whose dependency failed. Returns 0 when all succeeded, 1 when
// any failed or was skipped. With dry_run, prints the command lines only. Output goes to `log`.
struct JobRunResult {
  int exit_code = 0;
  std::vector<std::string> failed, skipped;
};
JobRunResult run_job_steps(const std::vector<JobStep>& steps, const std::filesystem::path& binary, bool dry_run,
                           std::ostream& log);
// A step's command line, shell-quoted, for logs and dry runs.
std::string command_line(const std::filesystem::path& binary, const JobStep& step);

}  // namespace psmflow::eval
