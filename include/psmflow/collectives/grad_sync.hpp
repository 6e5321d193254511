// How a trainer shares parameters and gradients across ranks. Contract between train (calls it)
// and collectives (implements it: one engine, grad_sync_engine.cpp, over an MPI transport for CPU
// tensors or an NCCL transport for CUDA tensors; transport.hpp).
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstddef>
#include <vector>

namespace psmflow::collectives {

struct GradSyncOptions {
  // Gradients are copied into flat buckets of about this size, reduced one bucket per call, in
  // reverse parameter order on every rank (grad_buckets.hpp). The first bucket — the last
  // layers, whose gradients backward() produces first — is smaller so that communication starts
  // early (PyTorch DDP's defaults: 25 MiB, first bucket 1 MiB).
  std::size_t bucket_bytes = 25u << 20;
  std::size_t first_bucket_bytes = 1u << 20;
  // A collective taking longer than this ends the job (Transport::abort); 0 = wait forever.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

class GradSync {
 public:
  virtual ~GradSync() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Rank 0's values overwrite every rank's (called once before the first step and after resume).
  virtual void broadcast_parameters(const std::vector<torch::Tensor>& params) = 0;
  // Averages .grad() of params across ranks, in a fixed bucket order on every rank. A parameter
  // without a gradient counts as zeros and gets the average as its gradient.
  virtual void allreduce_gradients(const std::vector<torch::Tensor>& params) = 0;
  // Overlaps the averaging with backward() (PyTorch DDP's way): puts a hook on each parameter so
  // that, in every later backward(), each bucket starts reducing as soon as its gradients (and
  // those of the buckets before it) are ready; allreduce_gradients(params), called with the same
  // parameters after each backward(), then only starts the buckets still waiting — those of
  // parameters that got no gradient, counted as zeros — and waits for all. The hooks take the
  // gradient of that backward() alone, so .grad() must be zero before it (zero_grad() every step,
  // no accumulation over several backward() calls: a second gradient in one step throws).
  // Call once, before the first step; without it every step uses the plain path.
  virtual void overlap_backward(const std::vector<torch::Tensor>& params) = 0;
  // The last allreduce_gradients(): its buckets, and how many of them started during backward().
  struct StepStats {
    std::size_t buckets = 0;
    std::size_t started_in_backward = 0;
  };
  virtual StepStats last_step() const { return {}; }
  // Sums a few scalars across ranks (loss logging).
  virtual void allreduce_sum(std::vector<double>& values) = 0;
};

}  // namespace psmflow::collectives
