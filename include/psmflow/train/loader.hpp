// Prepares training batches ahead of compute on one thread, through a bounded queue. Every batch
// is a pure function of (seed, epoch, step): augmentation draws come from mix_seed(seed, epoch,
// step, slot), so the batches are the same whether the thread runs ahead, or not at all.
// Data-parallel ranks pass first_slot = their first slot in the global batch (rank × batch), so
// each rank draws its own augmentations and K ranks × batch B draw those of 1 rank × K·B.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "psmflow/train/augment.hpp"
#include "psmflow/train/frames.hpp"
#include "psmflow/train/sampler.hpp"

namespace psmflow::train {

struct Batch {
  std::int64_t step = 0;  // 0-based within the epoch
  torch::Tensor x0, x1;   // [b,3,64,64] float, normalised, on the CPU
};

// Builds batch `step` of an epoch's pair list (pairs [step*batch, (step+1)*batch)).
Batch make_batch(const FrameStore& frames, const std::vector<Pair>& pairs, int batch, std::int64_t step,
                 unsigned long long seed, int epoch, bool augment, const AugmentParams& params = {},
                 std::int64_t first_slot = 0);

std::int64_t steps_in_epoch(std::int64_t pairs, int batch);  // the last batch may be short

class BatchLoader {
 public:
  // Yields steps first_step .. steps_in_epoch-1; depth = batches prepared ahead (0 = no thread).
  BatchLoader(const FrameStore& frames, std::vector<Pair> pairs, int batch, unsigned long long seed, int epoch,
              bool augment, std::int64_t first_step, int depth, std::int64_t first_slot = 0);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  std::optional<Batch> next();  // empty at the end of the epoch; rethrows a loader error

 private:
  void produce();
  Batch build(std::int64_t step) const;

  const FrameStore& frames_;
  std::vector<Pair> pairs_;
  int batch_;
  unsigned long long seed_;
  int epoch_;
  bool augment_;
  std::int64_t first_slot_;
  std::int64_t next_step_, end_step_;
  std::size_t depth_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::int64_t produced_ = 0;  // next step the thread builds
};

}  // namespace psmflow::train
