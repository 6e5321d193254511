// Picks the gradient-sync transport (STYLE.md 1): NCCL for CUDA tensors when built with CUDA, MPI otherwise.
#include <torch/torch.h>

#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/core/error.hpp"

namespace psmflow::collectives {

std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm comm, int device, GradSyncOptions opt) {
#ifdef PSMFLOW_USE_CUDA
  return make_grad_sync(make_nccl_transport(comm, device, opt.timeout), opt);
#else
  (void)comm, (void)device, (void)opt;
  throw UsageError("the NCCL gradient sync needs a CUDA build (cmake -DPSMFLOW_USE_CUDA=ON with a CUDA LibTorch)");
#endif
}

std::unique_ptr<GradSync> make_grad_sync(MPI_Comm comm, const torch::Device& device, GradSyncOptions opt) {
  if (device.is_cuda()) return make_nccl_grad_sync(comm, device.has_index() ? device.index() : 0, opt);
  return make_mpi_grad_sync(comm, opt);
}

}  // namespace psmflow::collectives
