// How a trainer shares parameters and gradients across ranks. Contract between train (calls it)
// and dist (implements it: MPI on CPU tensors, NCCL on CUDA tensors, one file each).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace psmflow::dist {

class GradSync {
 public:
  virtual ~GradSync() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Rank 0's values overwrite every rank's (called once before the first step and after resume).
  virtual void broadcast_parameters(const std::vector<torch::Tensor>& params) = 0;
  // Averages .grad() of params across ranks, in a fixed bucket order on every rank.
  virtual void allreduce_gradients(const std::vector<torch::Tensor>& params) = 0;
  // Sums a few scalars across ranks (loss logging).
  virtual void allreduce_sum(std::vector<double>& values) = 0;
};

}  // namespace psmflow::dist
