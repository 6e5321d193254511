// GradSync over NCCL for CUDA tensors. Uses only the CUDA runtime and NCCL on raw data pointers, so
// it also compiles against /usr/local/cuda with the CPU LibTorch (PSMFLOW_NCCL_CHECK, compile-only).
// Same structure as the MPI backend (grad_buckets.hpp): flat device buckets in reverse parameter
// order, reduced by ncclAllReduce (ncclAvg) on a private stream, queued strictly in bucket order;
// after overlap_backward(), hooks queue each bucket's reduction during backward() as soon as it
// and the buckets before it are complete.
#include <cuda_runtime.h>
#include <nccl.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "psmflow/collectives/grad_buckets.hpp"
#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/collectives/mpi.hpp"
#include "psmflow/collectives/watchdog.hpp"

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

// A layout with its flat device buffers.
struct Buckets {
  Buckets(const std::vector<ParamShape>& shapes, const GradSyncOptions& opt)
      : layout(plan_buckets(shapes, opt.first_bucket_bytes, opt.bucket_bytes)) {
    for (const auto& b : layout.buckets) {
      flat.push_back(nullptr);
      PSMFLOW_CUDA(cudaMalloc(&flat.back(), b.bytes()));
    }
  }
  ~Buckets() {
    for (void* f : flat) cudaFree(f);
  }
  Buckets(const Buckets&) = delete;
  Buckets& operator=(const Buckets&) = delete;
  char* slot(std::size_t param) const {
    const auto& b = layout.buckets[layout.bucket_of[param]];
    return static_cast<char*>(flat[layout.bucket_of[param]]) + layout.offset_of[param] * b.element_size;
  }
  std::size_t bytes(std::size_t param) const {
    return static_cast<std::size_t>(layout.shapes[param].numel) * layout.shapes[param].element_size;
  }
  BucketLayout layout;
  std::vector<void*> flat;
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
    hooks_.reset();
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    plain_.reset();
    overlap_.reset();
    ncclCommDestroy(nccl_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  StepStats last_step() const override { return stats_; }

  void broadcast_parameters(const std::vector<torch::Tensor>& params) override {
    wait_for_torch();
    for (const auto& p : params) {
      check_device(p);
      PSMFLOW_NCCL(ncclBroadcast(p.data_ptr(), p.data_ptr(), static_cast<std::size_t>(p.numel()),
                                 nccl_type(p.scalar_type()), 0, nccl_, stream_));
    }
    synchronize("ncclBroadcast of parameters");
  }

  void overlap_backward(const std::vector<torch::Tensor>& params) override {
    if (world_ == 1) return;
    if (overlap_) throw std::logic_error("NCCL gradient sync: overlap_backward() called twice");
    overlap_ = std::make_unique<Buckets>(shapes_of(params), opt_);
    ready_ = std::make_unique<BucketReadiness>(overlap_->layout);
    hooks_ =
        std::make_unique<GradientHooks>(params, [this](std::size_t k, const torch::Tensor& g) { on_gradient(k, g); });
    events_.assign(params.size(), nullptr);
    for (std::size_t k = 0; k < params.size(); ++k)
      if (hooks_->hooked(k)) PSMFLOW_CUDA(cudaEventCreateWithFlags(&events_[k], cudaEventDisableTiming));
    start_step();
  }

  void allreduce_gradients(const std::vector<torch::Tensor>& params) override {
    if (world_ == 1) return;
    if (hooks_ && hooks_->attached_to(params)) return finish_overlapped(params);
    if (arrived_ > 0)
      throw std::logic_error("NCCL gradient sync: allreduce_gradients() got other parameters than overlap_backward()");
    reduce_plain(params);
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
  // LibTorch's current stream on our device (the legacy default stream without its CUDA headers).
  cudaStream_t torch_stream() const {
#ifdef PSMFLOW_TORCH_CUDA
    return c10::cuda::getCurrentCUDAStream(device_).stream();
#else
    return nullptr;
#endif
  }

  // Gradients are written by LibTorch's stream; the reductions must see them finished.
  void wait_for_torch() {
#ifdef PSMFLOW_TORCH_CUDA
    PSMFLOW_CUDA(cudaStreamSynchronize(torch_stream()));
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

  std::vector<ParamShape> shapes_of(const std::vector<torch::Tensor>& params) const {
    std::vector<ParamShape> out;
    for (const auto& p : params) {
      check_device(p);
      nccl_type(p.scalar_type());
      out.push_back({p.numel(), static_cast<int>(p.scalar_type()), static_cast<std::size_t>(p.element_size())});
    }
    return out;
  }

  void start(const Buckets& bk, std::size_t i) {
    const auto& b = bk.layout.buckets[i];
    PSMFLOW_NCCL(ncclAllReduce(bk.flat[i], bk.flat[i], static_cast<std::size_t>(b.numel),
                               nccl_type(static_cast<torch::ScalarType>(b.dtype)), ncclAvg, nccl_, stream_));
  }

  // The averaged buckets become the parameters' gradients (a missing one is created), then waits.
  void unpack(const Buckets& bk, const std::vector<torch::Tensor>& params, const char* what) {
    for (std::size_t k = 0; k < params.size(); ++k) {
      auto p = params[k];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      if (!p.grad().is_contiguous()) throw std::runtime_error("NCCL gradient sync needs contiguous gradients");
      PSMFLOW_CUDA(cudaMemcpyAsync(p.grad().data_ptr(), bk.slot(k), bk.bytes(k), cudaMemcpyDeviceToDevice, stream_));
    }
    synchronize(what);
  }

  void reduce_plain(const std::vector<torch::Tensor>& params) {
    auto shapes = shapes_of(params);
    if (!plain_ || !same_shapes(plain_->layout.shapes, shapes)) plain_ = std::make_unique<Buckets>(shapes, opt_);
    wait_for_torch();
    for (std::size_t i = 0; i < plain_->layout.buckets.size(); ++i) {
      for (std::size_t k : plain_->layout.buckets[i].params) {
        const auto& g = params[k].grad();
        if (!g.defined()) {
          PSMFLOW_CUDA(cudaMemsetAsync(plain_->slot(k), 0, plain_->bytes(k), stream_));
          continue;
        }
        if (!g.is_contiguous()) throw std::runtime_error("NCCL gradient sync needs contiguous gradients");
        PSMFLOW_CUDA(
            cudaMemcpyAsync(plain_->slot(k), g.data_ptr(), plain_->bytes(k), cudaMemcpyDeviceToDevice, stream_));
      }
      start(*plain_, i);
    }
    unpack(*plain_, params, "ncclAllReduce of the gradient buckets");
    stats_ = {plain_->layout.buckets.size(), 0};
  }

  // A new step: parameters that take no gradient are zeros from the start.
  void start_step() {
    ready_->reset();
    arrived_ = 0;
    for (std::size_t k = 0; k < hooks_->size(); ++k) {
      if (hooks_->hooked(k)) continue;
      PSMFLOW_CUDA(cudaMemsetAsync(overlap_->slot(k), 0, overlap_->bytes(k), stream_));
      ready_->mark_ready(k);
    }
  }

  // Runs inside backward() (on the autograd engine's thread for this device), once per parameter.
  // The copy is queued on LibTorch's stream, after the kernel that made the gradient and before
  // the caching allocator may reuse its memory; our stream waits for it with an event.
  void on_gradient(std::size_t k, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_->mark_ready(k);  // first: a second gradient must not touch a bucket being reduced
    ++arrived_;
    cudaStream_t producer = torch_stream();
    if (grad.defined()) {
      torch::Tensor g = grad.contiguous();
      PSMFLOW_CUDA(
          cudaMemcpyAsync(overlap_->slot(k), g.data_ptr(), overlap_->bytes(k), cudaMemcpyDeviceToDevice, producer));
    } else {
      PSMFLOW_CUDA(cudaMemsetAsync(overlap_->slot(k), 0, overlap_->bytes(k), producer));
    }
    PSMFLOW_CUDA(cudaEventRecord(events_[k], producer));
    PSMFLOW_CUDA(cudaStreamWaitEvent(stream_, events_[k], 0));
    for (std::size_t i : ready_->take_startable()) start(*overlap_, i);
  }

  void finish_overlapped(const std::vector<torch::Tensor>& params) {
    std::lock_guard<std::mutex> lock(mu_);
    wait_for_torch();
    stats_ = {overlap_->layout.buckets.size(), ready_->started()};
    for (std::size_t i : ready_->take_rest()) {
      for (std::size_t k : overlap_->layout.buckets[i].params)
        if (!ready_->is_ready(k))  // no gradient this step
          PSMFLOW_CUDA(cudaMemsetAsync(overlap_->slot(k), 0, overlap_->bytes(k), stream_));
      start(*overlap_, i);
    }
    unpack(*overlap_, params, "ncclAllReduce of the gradient buckets");
    start_step();
  }

  static bool same_shapes(const std::vector<ParamShape>& a, const std::vector<ParamShape>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i].numel != b[i].numel || a[i].dtype != b[i].dtype) return false;
    return true;
  }

  GradSyncOptions opt_;
  int device_;
  Watchdog watchdog_;
  int rank_ = 0, world_ = 1;
  ncclComm_t nccl_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Buckets> plain_;
  StepStats stats_;
  // Overlapped path.
  std::unique_ptr<Buckets> overlap_;
  std::unique_ptr<BucketReadiness> ready_;
  std::unique_ptr<GradientHooks> hooks_;  // set by overlap_backward()
  std::size_t arrived_ = 0;               // gradients that came through the hooks this step
  std::vector<cudaEvent_t> events_;       // per hooked parameter: its copy is queued
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm comm, int device, GradSyncOptions opt) {
  return std::make_unique<NcclGradSync>(comm, device, opt);
}

}  // namespace psmflow::collectives
