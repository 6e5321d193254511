// The GradSync backends (STYLE.md 1: one file each behind one interface) and the choice between
// them: NCCL for CUDA tensors when built with CUDA, MPI otherwise.
#pragma once
#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "psmflow/collectives/grad_sync.hpp"

namespace psmflow::collectives {

struct GradSyncOptions {
  // Gradients are copied into flat buckets of about this size, reduced one bucket per call, in
  // reverse parameter order on every rank (grad_buckets.hpp). The first bucket — the last
  // layers, whose gradients backward() produces first — is smaller so that communication starts
  // early (PyTorch DDP's defaults: 25 MiB, first bucket 1 MiB).
  std::size_t bucket_bytes = 25u << 20;
  std::size_t first_bucket_bytes = 1u << 20;
  // A collective taking longer than this ends the job (Watchdog); 0 = no watchdog.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

// CPU tensors (float32 or float64), MPI_Iallreduce per bucket, started as soon as the bucket is
// filled: during backward() after overlap_backward(), else after it.
std::unique_ptr<GradSync> make_mpi_grad_sync(MPI_Comm comm, GradSyncOptions opt = {});
// CUDA tensors on `device`; the NCCL unique id goes from rank 0 to the others over MPI.
// Throws UsageError when psmflow was built without PSMFLOW_USE_CUDA.
std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm comm, int device, GradSyncOptions opt = {});
// The backward hooks of overlapped averaging, shared by both backends: one hook per parameter
// that takes a gradient, calling on_gradient(index, gradient); removed when this is destroyed.
class GradientHooks {
 public:
  using OnGradient = std::function<void(std::size_t, const torch::Tensor&)>;
  GradientHooks(const std::vector<torch::Tensor>& params, const OnGradient& on_gradient);
  ~GradientHooks();
  GradientHooks(const GradientHooks&) = delete;
  GradientHooks& operator=(const GradientHooks&) = delete;
  // Whether params are the very tensors, in the same order, the hooks were attached to.
  bool attached_to(const std::vector<torch::Tensor>& params) const;
  std::size_t size() const { return params_.size(); }
  // Parameters without a hook take no gradient: zeros every step.
  bool hooked(std::size_t k) const { return hooked_[k] != 0; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<char> hooked_;
  std::vector<std::pair<std::size_t, unsigned>> handles_;  // (parameter, hook handle)
};
// NCCL for a CUDA device (when built with CUDA), MPI otherwise.
std::unique_ptr<GradSync> make_grad_sync(MPI_Comm comm, const torch::Device& device, GradSyncOptions opt = {});

}  // namespace psmflow::collectives
