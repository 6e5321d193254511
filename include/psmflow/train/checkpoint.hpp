// Checkpoints: everything needed to continue a run exactly, in one LibTorch archive written to a
// temporary name and renamed (AtomicPath). The zip end record's comment holds "psmflow-sha256:"
// and the SHA-256 of every byte before it; loading verifies it, so a truncated or corrupt file
// is refused naming the file. Archive keys:
//   model/...        the module's parameters and buffers
//   optimizer/...    Adam state (step, moments)
//   state/...        epoch (last epoch whose steps are all done, or the current one when step > 0),
//                    step (steps done in the current epoch), seed, config_hash, sampler, the loss
//                    sums of the unfinished epoch, the torch CPU generator state and, for a
//                    model on a GPU, that GPU's generator state (state/cuda_generator)
//   psmflow/format   "psmflow-checkpoint-1"
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace psmflow::train {

inline const std::string kCheckpointFormat = "psmflow-checkpoint-1";

struct TrainState {
  int epoch = 0;           // epochs fully done when step == 0; else the epoch in progress
  std::int64_t step = 0;   // steps done in epoch `epoch + 1`
  unsigned long long seed = 0;
  std::string config_hash;
  std::string sampler;
  std::vector<double> partial_sums;  // loss-term sums over the steps done in the epoch in progress
  double partial_seconds = 0;
  torch::Tensor generator_state;       // torch CPU generator
  torch::Tensor cuda_generator_state;  // the model's GPU generator; undefined for a CPU model
};

// Throws StageError naming the file and the OS's reason when the write fails (disk full); the
// temporary file is removed and an earlier file of that name stays.
void save_checkpoint(const std::filesystem::path& file, torch::nn::Module& model, torch::optim::Optimizer* opt,
                     const TrainState& state);
// Why the file cannot be trusted ("<file>: damaged checkpoint: checksum mismatch ..."), or nullopt.
std::optional<std::string> checkpoint_damage(const std::filesystem::path& file);
// Reads the state only (whether a checkpoint fits this run); nullopt if not ours or damaged.
std::optional<TrainState> read_train_state(const std::filesystem::path& file);
// Loads model (and optimiser, when given) from a psmflow checkpoint; throws naming the file.
TrainState load_checkpoint(const std::filesystem::path& file, torch::nn::Module& model, torch::optim::Optimizer* opt);
// Sets the torch CPU generator and, when `device` is a GPU, its generator to the checkpoint's
// states (exact resume of the generator's noise).
void restore_generator(const TrainState& state, const torch::Device& device = torch::kCPU);
// True when the file is a psmflow checkpoint (not a PyTorch file).
bool is_psmflow_checkpoint(const std::filesystem::path& file);

}  // namespace psmflow::train
