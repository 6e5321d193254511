// The GradSync backends (STYLE.md 1: one file each behind one interface) and the choice between
// them: NCCL for CUDA tensors when built with CUDA, MPI otherwise.
#pragma once
#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <memory>

#include "psmflow/dist/grad_sync.hpp"

namespace psmflow::dist {

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
// Whether a and b hold the very same tensors in the same order (the parameters a backend's
// backward hooks were attached to).
bool same_tensors(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);
// NCCL for a CUDA device (when built with CUDA), MPI otherwise.
std::unique_ptr<GradSync> make_grad_sync(MPI_Comm comm, const torch::Device& device, GradSyncOptions opt = {});

}  // namespace psmflow::dist
