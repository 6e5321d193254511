// Picks the GradSync backend (STYLE.md 1): NCCL for CUDA tensors when built with CUDA, MPI otherwise.
#include <torch/torch.h>

#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/core/error.hpp"

namespace psmflow::collectives {

#ifndef PSMFLOW_USE_CUDA
std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm, int, GradSyncOptions) {
  throw UsageError("the NCCL gradient sync needs a CUDA build (cmake -DPSMFLOW_USE_CUDA=ON with a CUDA LibTorch)");
}
#endif

GradientHooks::GradientHooks(const std::vector<torch::Tensor>& params, const OnGradient& on_gradient)
    : params_(params), hooked_(params.size(), 0) {
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].requires_grad()) continue;
    handles_.emplace_back(k, params_[k].register_hook([on_gradient, k](const torch::Tensor& g) { on_gradient(k, g); }));
    hooked_[k] = 1;
  }
}

GradientHooks::~GradientHooks() {
  for (auto [k, handle] : handles_) params_[k].remove_hook(handle);
}

bool GradientHooks::attached_to(const std::vector<torch::Tensor>& params) const {
  if (params.size() != params_.size()) return false;
  for (std::size_t k = 0; k < params.size(); ++k)
    if (!params[k].is_same(params_[k])) return false;
  return true;
}

std::unique_ptr<GradSync> make_grad_sync(MPI_Comm comm, const torch::Device& device, GradSyncOptions opt) {
  if (device.is_cuda()) return make_nccl_grad_sync(comm, device.has_index() ? device.index() : 0, opt);
  return make_mpi_grad_sync(comm, opt);
}

}  // namespace psmflow::collectives
