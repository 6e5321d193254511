#include <spdlog/spdlog.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/train/frames.hpp"
#include "psmflow/train/net.hpp"
#include "psmflow/train/stage.hpp"
#include "psmflow/train/stop.hpp"
#include "psmflow/train/trainer.hpp"

namespace psmflow::train {
namespace {


StageResult train_work(const Config& cfg, const RunDir& run, const TrainRequest& req, const std::filesystem::path& dir,
                       const std::string& config_hash) {
  const int threads = apply_threads(cfg.run.threads);
  const torch::Device device = choose_device(cfg.run.device);
  MemoryFrames frames = load_frames(run.frames(req.subject), true);
  auto sampler = make_subject_sampler(cfg.psm.mode, frames.size(), cfg.run.seed);
  auto net = make_facecycle_net(cfg, device);
  if (!cfg.psm.init.empty()) load_weights(*net, cfg.psm.init);
  TrainOptions opt;
  opt.section = cfg.psm;
  opt.seed = cfg.run.seed;
  opt.config_hash = config_hash;
  opt.out_dir = dir;
  opt.device = device;
  opt.loader_depth = req.loader_depth;
  opt.label = req.subject + " " + req.tag;
  spdlog::info("{}: {} on {} with {} threads", opt.label, cfg.psm.mode, device.str(), threads);
  install_stop_handlers();
  Trainer trainer(*net, frames, *sampler, opt);
  TrainResult result = trainer.run();
  if (result.interrupted)
    throw StageInterrupted("interrupted by signal " + std::to_string(stop_signal()) + " after epoch " +
                      std::to_string(result.epochs_done) + "; rerun to resume from " + trainer.latest().string());
  StageResult out;
  out.outputs = result.outputs;
  out.details = {{"mode", cfg.psm.mode},
                 {"preset", cfg.model.preset},
                 {"epochs", std::to_string(result.epochs_done)},
                 {"frames", std::to_string(frames.size())},
                 {"perceptual", net->net()->has_perceptual() ? "on" : "off"},
                 {"images_per_s", std::to_string(result.images_per_s)},
                 {"last_loss", std::to_string(result.last_loss)},
                 {"device", device.str()},
                 {"threads", std::to_string(threads)}};
  if (!cfg.psm.init.empty()) out.details["init"] = cfg.psm.init.string();
  return out;
}

}  // namespace

int train_subject(const Config& cfg, const RunDir& run, Manifest& manifest, const TrainRequest& req) {
  if (cfg.psm.mode != "psm" && cfg.psm.mode != "psm-ctl")
    throw UsageError("train: mode '" + cfg.psm.mode + "' is not a subject mode (psm, psm-ctl)");
  const std::filesystem::path dir = req.tag == "psm" ? run.psm_dir(req.subject) : run.model_dir(req.subject, req.tag);
  const pipeline::Stage st = pipeline::train_stage(req.tag);
  const std::string& stage_name = st.name;
  const std::string config_hash = pipeline::config_hash(cfg, st);
  const std::string input_hash = pipeline::needs_hash(manifest, st, req.subject, req.accept_unfinished);
  bool interrupted = false;
  auto work = [&]() -> StageResult {
    try {
      return train_work(cfg, run, req, dir, config_hash);
    } catch (const StageInterrupted&) {
      interrupted = true;
      throw;
    }
  };
  StageOutcome outcome = run_stage(manifest, req.subject, stage_name, input_hash, config_hash, work);
  if (interrupted) {  // run_stage recorded it interrupted
    return kExitInterrupted;
  }
  return outcome == StageOutcome::failed ? kExitStageFailed : kExitOk;
}

}  // namespace psmflow::train
