// GradSync over NCCL for CUDA tensors. Uses only the CUDA runtime and NCCL on raw data pointers, so
// it also compiles against /usr/local/cuda with the CPU LibTorch (PSMFLOW_NCCL_CHECK, compile-only).
// Gradients are packed into flat device buckets in parameter order on a private stream, and each
// bucket's ncclAllReduce (ncclAvg) is queued as soon as it is packed.
#include <cuda_runtime.h>
#include <nccl.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "psmflow/dist/grad_sync_backends.hpp"
#include "psmflow/dist/mpi.hpp"
#include "psmflow/dist/watchdog.hpp"

#if defined(PSMFLOW_USE_CUDA) && __has_include(<c10/cuda/CUDAStream.h>)
#include <c10/cuda/CUDAStream.h>
#define PSMFLOW_TORCH_CUDA 1
#endif

namespace psmflow::dist {
namespace {

void cuda_check(cudaError_t rc, const char* call) {
  if (rc != cudaSuccess)
    throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorName(rc) + ": " + cudaGetErrorString(rc));
}
void nccl_check(ncclResult_t rc, const char* call, int rank) {
  if (rc != ncclSuccess)
    throw std::runtime_error(std::string(call) + " failed on rank " + std::to_string(rank) + ": " +
                             ncclGetErrorString(rc));
}
#define PSMFLOW_CUDA(call) cuda_check((call), #call)
#define PSMFLOW_NCCL(call) nccl_check((call), #call, rank_)

ncclDataType_t nccl_type(torch::ScalarType t) {
  if (t == torch::kFloat) return ncclFloat32;
  if (t == torch::kDouble) return ncclFloat64;
  if (t == torch::kHalf) return ncclFloat16;
  throw std::runtime_error(std::string("NCCL gradient sync: unsupported dtype ") + c10::toString(t));
}

struct Bucket {
  torch::ScalarType dtype;
  std::vector<std::size_t> params;
  std::size_t bytes = 0;
  void* flat = nullptr;
};

class NcclGradSync : public GradSync {
 public:
  NcclGradSync(MPI_Comm comm, int device, GradSyncOptions opt) : opt_(opt), device_(device), watchdog_(opt.timeout) {
    PSMFLOW_MPI(MPI_Comm_rank(comm, &rank_));
    PSMFLOW_MPI(MPI_Comm_size(comm, &world_));
    PSMFLOW_CUDA(cudaSetDevice(device_));
    ncclUniqueId id;
    if (rank_ == 0) PSMFLOW_NCCL(ncclGetUniqueId(&id));
    PSMFLOW_MPI(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm));
    {
      Watchdog::Scope guard(watchdog_, "ncclCommInitRank");
      PSMFLOW_NCCL(ncclCommInitRank(&nccl_, world_, id, rank_));
    }
    PSMFLOW_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~NcclGradSync() override {
    for (auto& b : buckets_) cudaFree(b.flat);
    ncclCommDestroy(nccl_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void broadcast_parameters(const std::vector<torch::Tensor>& params) override {
    wait_for_torch();
    for (const auto& p : params) {
      check_device(p);
      PSMFLOW_NCCL(ncclBroadcast(p.data_ptr(), p.data_ptr(), static_cast<std::size_t>(p.numel()),
                                 nccl_type(p.scalar_type()), 0, nccl_, stream_));
    }
    synchronize("ncclBroadcast of parameters");
  }

  void allreduce_gradients(const std::vector<torch::Tensor>& params) override {
    if (world_ == 1) return;
    plan(params);
    wait_for_torch();
    for (auto& b : buckets_) {
      copy(b, params, true);
      std::size_t count = b.bytes / c10::elementSize(b.dtype);
      PSMFLOW_NCCL(ncclAllReduce(b.flat, b.flat, count, nccl_type(b.dtype), ncclAvg, nccl_, stream_));
    }
    for (auto& b : buckets_) copy(b, params, false);
    synchronize("ncclAllReduce of the gradient buckets");
  }

  void allreduce_sum(std::vector<double>& values) override {
    if (values.empty()) return;
    std::size_t bytes = values.size() * sizeof(double);
    void* dev = nullptr;
    PSMFLOW_CUDA(cudaMalloc(&dev, bytes));
    PSMFLOW_CUDA(cudaMemcpyAsync(dev, values.data(), bytes, cudaMemcpyHostToDevice, stream_));
    PSMFLOW_NCCL(ncclAllReduce(dev, dev, values.size(), ncclFloat64, ncclSum, nccl_, stream_));
    PSMFLOW_CUDA(cudaMemcpyAsync(values.data(), dev, bytes, cudaMemcpyDeviceToHost, stream_));
    synchronize("ncclAllReduce of loss sums");
    PSMFLOW_CUDA(cudaFree(dev));
  }

 private:
  // Gradients are written by LibTorch's stream; the reductions must see them finished.
  void wait_for_torch() {
#ifdef PSMFLOW_TORCH_CUDA
    PSMFLOW_CUDA(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream(device_).stream()));
#else
    PSMFLOW_CUDA(cudaDeviceSynchronize());
#endif
  }

  void synchronize(const char* what) {
    Watchdog::Scope guard(watchdog_, what);
    PSMFLOW_CUDA(cudaStreamSynchronize(stream_));
  }

  void check_device(const torch::Tensor& p) const {
    if (!p.device().is_cuda() || p.device().index() != device_)
      throw std::runtime_error("NCCL gradient sync on cuda:" + std::to_string(device_) + " got a tensor on " +
                               p.device().str());
  }

  void plan(const std::vector<torch::Tensor>& params) {
    std::vector<std::int64_t> shape;
    for (const auto& p : params) {
      check_device(p);
      shape.push_back(p.numel());
      shape.push_back(static_cast<std::int64_t>(p.scalar_type()));
    }
    if (shape == shape_) return;
    shape_ = shape;
    for (auto& b : buckets_) cudaFree(b.flat);
    buckets_.clear();
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::size_t bytes = static_cast<std::size_t>(params[i].numel()) * params[i].element_size();
      bool fits = !buckets_.empty() && buckets_.back().dtype == params[i].scalar_type() &&
                  buckets_.back().bytes + bytes <= opt_.bucket_bytes;
      if (!fits) buckets_.push_back({params[i].scalar_type(), {}, 0, nullptr});
      buckets_.back().params.push_back(i);
      buckets_.back().bytes += bytes;
    }
    for (auto& b : buckets_) PSMFLOW_CUDA(cudaMalloc(&b.flat, b.bytes));
  }

  // pack = gradients into the bucket (missing gradient = zeros), else the bucket back into them.
  void copy(Bucket& b, const std::vector<torch::Tensor>& params, bool pack) {
    std::size_t offset = 0;
    for (std::size_t i : b.params) {
      auto p = params[i];
      std::size_t bytes = static_cast<std::size_t>(p.numel()) * p.element_size();
      char* slot = static_cast<char*>(b.flat) + offset;
      if (!p.grad().defined()) {
        if (pack)
          PSMFLOW_CUDA(cudaMemsetAsync(slot, 0, bytes, stream_));
        else
          p.mutable_grad() = torch::zeros_like(p);
      }
      if (p.grad().defined()) {
        if (!p.grad().is_contiguous()) throw std::runtime_error("NCCL gradient sync needs contiguous gradients");
        void* grad = p.grad().data_ptr();
        if (pack)
          PSMFLOW_CUDA(cudaMemcpyAsync(slot, grad, bytes, cudaMemcpyDeviceToDevice, stream_));
        else
          PSMFLOW_CUDA(cudaMemcpyAsync(grad, slot, bytes, cudaMemcpyDeviceToDevice, stream_));
      }
      offset += bytes;
    }
  }

  GradSyncOptions opt_;
  int device_;
  Watchdog watchdog_;
  int rank_ = 0, world_ = 1;
  ncclComm_t nccl_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<std::int64_t> shape_;
  std::vector<Bucket> buckets_;
};

}  // namespace

std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm comm, int device, GradSyncOptions opt) {
  return std::make_unique<NcclGradSync>(comm, device, opt);
}

}  // namespace psmflow::dist
