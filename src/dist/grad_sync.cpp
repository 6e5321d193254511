// Picks the GradSync backend (STYLE.md 1): NCCL for CUDA tensors when built with CUDA, MPI otherwise.
#include <torch/torch.h>

#include "psmflow/dist/grad_sync_backends.hpp"
#include "psmflow/error.hpp"

namespace psmflow::dist {

#ifndef PSMFLOW_USE_CUDA
std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm, int, GradSyncOptions) {
  throw UsageError("the NCCL gradient sync needs a CUDA build (cmake -DPSMFLOW_USE_CUDA=ON with a CUDA LibTorch)");
}
#endif

bool same_tensors(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (!a[k].is_same(b[k])) return false;
  return true;
}

std::unique_ptr<GradSync> make_grad_sync(MPI_Comm comm, const torch::Device& device, GradSyncOptions opt) {
  if (device.is_cuda()) return make_nccl_grad_sync(comm, device.has_index() ? device.index() : 0, opt);
  return make_mpi_grad_sync(comm, opt);
}

}  // namespace psmflow::dist
