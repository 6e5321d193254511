// The training loop shared by PSMs (this part) and the GM (dist part), METHOD.md §4.
//
//   TrainableNet& net          what is trained (FaceCycleNet, or a stand-in in tests)
//   const FrameStore& frames   uint8 frames, read by the loader thread
//   const PairSampler& pairs   which frame ids pair up in each epoch (PsmSampler, CtlSampler,
//                              the GM sampler); a pure function of (seed, epoch)
//   TrainOptions opt           schedule (TrainSection), seed, config hash, output folder, device
//   collectives::GradSync* sync       optional: parameters broadcast from rank 0 at the start and after
//                              resume, gradients averaged every step, loss sums and the stop flag
//                              summed; only rank 0 writes files
//
//   Trainer(net, frames, pairs, opt, sync).run() -> TrainResult
//
// One Adam step (betas from the config) per batch of pairs, its forward pass in the section's
// precision (model/precision.hpp); LR and neutral weight set per 1-based
// epoch. Files in opt.out_dir: latest.pt (full state, every checkpoint_every epochs and on a stop
// request), ckpt-e<E>.pt (full state, same epochs, kept), final.pt (model, at the end),
// losses.csv (one row per epoch: means of every loss term, lr, neutral weight, seconds, images/s),
// samples/e<E>.png (rows: input, de-expressed, reconstruction) every sample_every epochs.
// run() resumes from latest.pt when its config hash and sampler match (a damaged latest.pt, found by
// its checksum, is named in the log and the newest good ckpt-e<E>.pt is used), truncating losses.csv to
// the checkpoint's epoch, so a run killed anywhere repeats at most the steps after its last
// checkpoint and, with one thread, reproduces the uninterrupted loss sequence. A stop request
// (stop.hpp) checkpoints at the next step boundary and returns interrupted = true.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/collectives/grad_sync.hpp"
#include "psmflow/model/precision.hpp"
#include "psmflow/train/checkpoint.hpp"
#include "psmflow/train/frames.hpp"
#include "psmflow/train/net.hpp"
#include "psmflow/train/sampler.hpp"

namespace psmflow::train {

struct TrainOptions {
  TrainSection section;  // epochs, batch, lr schedule, betas, neutral weight, checkpoint/sample cadence
  unsigned long long seed = 1;
  std::string config_hash;  // a checkpoint with another hash is not resumed from
  std::filesystem::path out_dir;
  torch::Device device = torch::kCPU;
  int loader_depth = 2;  // batches prepared ahead on the loader thread; 0 = build them inline
  int sample_frames = 8;  // columns of the sample grid
  std::string label;      // for log lines, e.g. "S01 psm"
  // Data-parallel: this rank's first slot in the global batch, which keys augmentation (loader.hpp).
  std::int64_t first_slot = 0;
};

struct TrainResult {
  bool interrupted = false;
  bool already_done = false;  // final.pt of this config existed; nothing was trained
  int epochs_done = 0;
  double last_loss = 0;
  double images_per_s = 0;  // over the steps this process ran
  std::vector<std::filesystem::path> outputs;  // final.pt, losses.csv, ckpt-e*.pt, samples
};

class Trainer {
 public:
  Trainer(TrainableNet& net, const FrameStore& frames, const PairSampler& pairs, TrainOptions opt,
          collectives::GradSync* sync = nullptr);
  TrainResult run();

  std::filesystem::path latest() const { return opt_.out_dir / "latest.pt"; }
  std::filesystem::path final_checkpoint() const { return opt_.out_dir / "final.pt"; }
  std::filesystem::path losses_csv() const { return opt_.out_dir / "losses.csv"; }
  std::filesystem::path epoch_checkpoint(int epoch) const;
  std::filesystem::path sample_grid(int epoch) const;

 private:
  std::vector<std::filesystem::path> resume_candidates() const;
  bool resume(TrainState& state);
  void resume_from(const std::filesystem::path& file, TrainState& state);
  void check_finite(double loss, int epoch, std::int64_t step) const;
  void run_epoch(int epoch, std::int64_t first_step, TrainState& state, TrainResult& result);
  void finish_epoch(int epoch, const std::vector<double>& sums, std::int64_t steps, double seconds,
                    std::int64_t images);
  void save(const std::filesystem::path& file, bool with_optimizer, const TrainState& state);
  void write_samples(int epoch);
  bool agreed_stop();
  bool is_root() const { return !sync_ || sync_->rank() == 0; }
  void set_lr(double lr);

  TrainableNet& net_;
  const FrameStore& frames_;
  const PairSampler& pairs_;
  TrainOptions opt_;
  collectives::GradSync* sync_;
  model::Precision precision_ = model::Precision::fp32;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Adam> adam_;
  std::vector<std::string> loss_rows_;  // losses.csv data lines, in epoch order
  bool stopping_ = false;
  double run_seconds_ = 0;
  std::int64_t run_images_ = 0;
};

std::string losses_csv_header();

}  // namespace psmflow::train
