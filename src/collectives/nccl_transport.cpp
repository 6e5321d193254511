// The NCCL transport of the gradient-sync engine: CUDA tensors, ncclAllReduce / ncclBroadcast on a
// private stream. Uses only the CUDA runtime and NCCL on raw data pointers, so it also compiles
// against /usr/local/cuda with the CPU LibTorch, and its host-side part runs in the NCCL
// transport test on machines without a GPU (tests/collectives/CMakeLists.txt). No MPI here:
// nccl_mpi.cpp shares the unique id over MPI, a lone rank needs no sharing.
#include <cuda_runtime.h>
#include <nccl.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "psmflow/collectives/nccl_transport.hpp"

#if defined(PSMFLOW_USE_CUDA) && __has_include(<c10/cuda/CUDAStream.h>)
#include <c10/cuda/CUDAStream.h>
#define PSMFLOW_TORCH_CUDA 1
#endif

namespace psmflow::collectives {
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

static_assert(sizeof(ncclUniqueId) == sizeof(NcclId), "NcclId holds an ncclUniqueId");

// First in every path: without a GPU, this is the error to see.
void select_device(int device) { PSMFLOW_CUDA(cudaSetDevice(device)); }

class NcclTransport : public Transport {
 public:
  explicit NcclTransport(const NcclMember& m) : device_(m.device), rank_(m.rank), world_(m.world), abort_(m.on_timeout) {
    select_device(device_);
    ncclUniqueId id;
    std::memcpy(&id, m.id.data(), sizeof id);
    {
      Watchdog watchdog(m.init_timeout, "rank " + std::to_string(rank_), m.on_timeout);
      Watchdog::Scope guard(watchdog, "ncclCommInitRank");
      PSMFLOW_NCCL(ncclCommInitRank(&nccl_, world_, id, rank_));
    }
    PSMFLOW_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    PSMFLOW_CUDA(cudaEventCreateWithFlags(&inputs_ready_, cudaEventDisableTiming));
  }
  ~NcclTransport() override {
    for (cudaEvent_t e : done_) cudaEventDestroy(e);
    cudaEventDestroy(inputs_ready_);
    ncclCommDestroy(nccl_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string allreduce_name() const override { return "ncclAllReduce"; }
  std::string broadcast_name() const override { return "ncclBroadcast"; }
  torch::Device device() const override { return {torch::kCUDA, static_cast<c10::DeviceIndex>(device_)}; }
  void check(const torch::Tensor& p) const override {
    if (!p.device().is_cuda() || p.device().index() != device_)
      throw std::runtime_error("NCCL gradient sync on cuda:" + std::to_string(device_) + " got a tensor on " +
                               p.device().str());
    nccl_type(p.scalar_type());
  }
  bool starts_from_any_thread() const override { return true; }

  void start_allreduce(std::size_t slot, const torch::Tensor& flat) override {
    after_torch();
    PSMFLOW_NCCL(ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<std::size_t>(flat.numel()),
                               nccl_type(flat.scalar_type()), ncclSum, nccl_, stream_));
    PSMFLOW_CUDA(cudaEventRecord(done(slot), stream_));
  }
  void start_broadcast(std::size_t slot, const torch::Tensor& flat) override {
    after_torch();
    PSMFLOW_NCCL(ncclBroadcast(flat.data_ptr(), flat.data_ptr(), static_cast<std::size_t>(flat.numel()),
                               nccl_type(flat.scalar_type()), 0, nccl_, stream_));
    PSMFLOW_CUDA(cudaEventRecord(done(slot), stream_));
  }
  bool test(std::size_t slot) override {
    if (slot >= done_.size()) return true;
    cudaError_t rc = cudaEventQuery(done_[slot]);  // an event never recorded counts as done
    if (rc == cudaErrorNotReady) return false;
    PSMFLOW_CUDA(rc);
    return true;
  }
  [[noreturn]] void abort(const std::string& message) override {
    abort_(message);
    std::abort();  // on_timeout must not return
  }

 private:
  // LibTorch's current stream on our device (the legacy default stream without its CUDA headers).
  cudaStream_t torch_stream() const {
#ifdef PSMFLOW_TORCH_CUDA
    return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
#else
    return nullptr;
#endif
  }

  // The engine fills the buckets with LibTorch operations: our stream waits for them. Later
  // LibTorch work on a bucket comes after the engine saw test() succeed, so it is ordered too.
  void after_torch() {
    PSMFLOW_CUDA(cudaEventRecord(inputs_ready_, torch_stream()));
    PSMFLOW_CUDA(cudaStreamWaitEvent(stream_, inputs_ready_, 0));
  }

  cudaEvent_t done(std::size_t slot) {
    while (done_.size() <= slot) {
      done_.push_back(nullptr);
      PSMFLOW_CUDA(cudaEventCreateWithFlags(&done_.back(), cudaEventDisableTiming));
    }
    return done_[slot];
  }

  int device_;
  int rank_ = 0, world_ = 1;
  OnTimeout abort_;
  ncclComm_t nccl_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t inputs_ready_ = nullptr;
  std::vector<cudaEvent_t> done_;  // per slot: recorded after its operation
};

}  // namespace

NcclId make_nccl_id(int device) {
  select_device(device);
  ncclUniqueId id;
  nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId(&id)", 0);  // rank 0 makes the ids
  NcclId out;
  std::memcpy(out.data(), &id, sizeof id);
  return out;
}

std::unique_ptr<Transport> make_nccl_transport(const NcclMember& m) { return std::make_unique<NcclTransport>(m); }

std::unique_ptr<Transport> make_lone_nccl_transport(int device, std::chrono::milliseconds init_timeout) {
  NcclMember m;
  m.device = device;
  m.id = make_nccl_id(device);
  m.init_timeout = init_timeout;
  return make_nccl_transport(m);
}

}  // namespace psmflow::collectives
