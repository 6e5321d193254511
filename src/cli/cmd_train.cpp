#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/train/plugin.hpp"
#include "psmflow/train/stage.hpp"
#include "psmflow/train/stop.hpp"

namespace psmflow::cli {
namespace {

struct TrainCli {
  CommonOptions common;
  std::string mode;
  std::string preset;
  int epochs = 0;
  int batch = 0;
  double lr = 0;
  std::optional<unsigned long long> seed;
  std::string init;
  std::string tag = "psm";
  std::string device;
  bool accept_unfinished = false;
};

// Command-line values override the [train.psm] or [train.gm] section they belong to.
void apply(const TrainCli& o, Config& cfg, TrainSection& section) {
  if (!o.mode.empty()) section.mode = o.mode;
  if (!o.preset.empty()) cfg.model.preset = o.preset;
  if (o.epochs > 0) section.epochs = o.epochs;
  if (o.batch > 0) section.batch = o.batch;
  if (o.lr > 0) {  // one rate for the whole run replaces the schedule
    section.lr_epochs = {1};
    section.lr_values = {o.lr};
  }
  if (o.seed) cfg.run.seed = *o.seed;
  if (!o.init.empty()) section.init = fs::absolute(o.init);
  if (!o.device.empty()) cfg.run.device = o.device;
}

int run_train(const TrainCli& o) {
  const bool gm = o.mode == "gm" || o.mode == "gm-ctl";
  Config cfg = session_config(o.common);
  if (gm) {
    apply(o, cfg, cfg.gm);
    Session s = open_session(std::move(cfg), "train");
    return torch_plugin().run_gm_training(s.cfg, s.run, s.manifest);
  }
  apply(o, cfg, cfg.psm);
  std::vector<std::string> ids = subject_ids(o.common, cfg, "train");
  Session s = open_session(std::move(cfg), "train");
  int code = kExitOk;
  for (const auto& id : ids) {
    int rc = torch_plugin().train_subject(s.cfg, s.run, s.manifest, {id, o.tag, 2, o.accept_unfinished});
    if (rc != kExitOk) code = rc;
    if (rc == train::kExitInterrupted) break;  // interrupted: the other subjects wait for the rerun
  }
  return code;
}

}  // namespace

Command add_train(CLI::App& root) {
  CLI::App* sub = root.add_subcommand(
      "train", "Train a PSM (psm, psm-ctl) or the GM (gm, gm-ctl); resumes from the last checkpoint. Exit 3 = "
               "stopped by SIGTERM/SIGUSR2 after writing a checkpoint");
  auto o = std::make_shared<TrainCli>();
  add_common_options(sub, o->common);
  // Defaults in the help are read from the built-in config, so they cannot drift from it.
  const Config d = default_config();
  sub->add_option("--mode", o->mode, "psm | psm-ctl | gm | gm-ctl (default: [train.psm] mode, " + d.psm.mode + ")")
      ->check(CLI::IsMember({"psm", "psm-ctl", "gm", "gm-ctl"}));
  sub->add_option("--preset", o->preset,
                  "Model preset: paper | small | tiny (default: [model] preset, " + d.model.preset + ")");
  sub->add_option("--epochs", o->epochs,
                  fmt::format("Epochs (default: [train.psm|gm] epochs, {} / {})", d.psm.epochs, d.gm.epochs))
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", o->batch,
                  fmt::format("Pairs per step, per rank for the GM (default: [train.psm|gm] batch, {} / {})",
                              d.psm.batch, d.gm.batch))
      ->check(CLI::PositiveNumber);
  sub->add_option("--lr", o->lr,
                  fmt::format("One learning rate for every epoch, replacing the schedule (default: [train.psm] "
                              "lr_values {} from epochs {})",
                              d.psm.lr_values, d.psm.lr_epochs))
      ->check(CLI::PositiveNumber);
  sub->add_option(
      "--seed", o->seed,
      fmt::format("Seed of initialisation, sampling and augmentation (default: [run] seed, {})", d.run.seed));
  sub->add_option("--init", o->init, "Start from this checkpoint: a psmflow PSM/GM or an original PyTorch file")
      ->check(CLI::ExistingFile);
  sub->add_option("--tag", o->tag, "Model name: psm (subjects/ID/psm) or another tag (subjects/ID/TAG)")->capture_default_str();
  sub->add_option("--device", o->device, "auto | cpu | cuda (default: [run] device, " + d.run.device + ")")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  add_accept_unfinished(sub, o->accept_unfinished);
  return {sub, [o] { return run_train(*o); }};
}

}  // namespace psmflow::cli
