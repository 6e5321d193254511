// GradSync over MPI for CPU tensors: gradients are packed into flat buckets in parameter order, and
// each bucket's MPI_Iallreduce starts as soon as it is packed, so packing the next bucket overlaps
// the reduction of the previous one (MPI_Test calls between buckets drive Open MPI's progress).
#include <torch/torch.h>

#include <vector>

#include "psmflow/dist/grad_sync_backends.hpp"
#include "psmflow/dist/mpi.hpp"
#include "psmflow/dist/watchdog.hpp"

namespace psmflow::dist {
namespace {

struct Bucket {
  torch::ScalarType dtype;
  std::vector<std::size_t> params;  // indices into the parameter list
  std::int64_t numel = 0;
  torch::Tensor flat;
};

MPI_Datatype mpi_type(torch::ScalarType t) {
  if (t == torch::kFloat) return MPI_FLOAT;
  if (t == torch::kDouble) return MPI_DOUBLE;
  throw std::runtime_error(std::string("MPI gradient sync: unsupported dtype ") + c10::toString(t));
}

class MpiGradSync : public GradSync {
 public:
  MpiGradSync(MPI_Comm comm, GradSyncOptions opt) : opt_(opt), watchdog_(opt.timeout) {
    PSMFLOW_MPI(MPI_Comm_dup(comm, &comm_));
    PSMFLOW_MPI(MPI_Comm_rank(comm_, &rank_));
    PSMFLOW_MPI(MPI_Comm_size(comm_, &world_));
  }
  ~MpiGradSync() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void broadcast_parameters(const std::vector<torch::Tensor>& params) override {
    plan(params);
    torch::NoGradGuard no_grad;
    for (auto& b : buckets_) {
      if (rank_ == 0) pack(b, params, false);
      MPI_Request req;
      PSMFLOW_MPI(MPI_Ibcast(b.flat.data_ptr(), static_cast<int>(b.numel), mpi_type(b.dtype), 0, comm_, &req));
      wait(req, "MPI_Ibcast of parameters");
      if (rank_ != 0) unpack(b, params, false, 1.0);
    }
  }

  void allreduce_gradients(const std::vector<torch::Tensor>& params) override {
    if (world_ == 1) return;
    plan(params);
    torch::NoGradGuard no_grad;
    std::vector<MPI_Request> reqs(buckets_.size(), MPI_REQUEST_NULL);
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      Bucket& b = buckets_[i];
      pack(b, params, true);
      PSMFLOW_MPI(MPI_Iallreduce(MPI_IN_PLACE, b.flat.data_ptr(), static_cast<int>(b.numel), mpi_type(b.dtype), MPI_SUM,
                                 comm_, &reqs[i]));
      int done = 0;
      for (std::size_t j = 0; j <= i; ++j) PSMFLOW_MPI(MPI_Test(&reqs[j], &done, MPI_STATUS_IGNORE));
    }
    Watchdog::Scope guard(watchdog_, "MPI_Iallreduce of the gradient buckets");
    PSMFLOW_MPI(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE));
    for (auto& b : buckets_) unpack(b, params, true, 1.0 / world_);
  }

  void allreduce_sum(std::vector<double>& values) override {
    if (values.empty()) return;
    MPI_Request req;
    PSMFLOW_MPI(
        MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, comm_, &req));
    wait(req, "MPI_Iallreduce of loss sums");
  }

 private:
  void wait(MPI_Request& req, const char* what) {
    Watchdog::Scope guard(watchdog_, what);
    PSMFLOW_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  }

  // Buckets are rebuilt only when the parameter list changes shape, so every step (and every rank,
  // given the same model) uses the same bucket order.
  void plan(const std::vector<torch::Tensor>& params) {
    std::vector<std::int64_t> shape;
    for (const auto& p : params) {
      if (p.device().type() != torch::kCPU)
        throw std::runtime_error("MPI gradient sync needs CPU tensors; use the NCCL backend for CUDA");
      shape.push_back(p.numel());
      shape.push_back(static_cast<std::int64_t>(p.scalar_type()));
    }
    if (shape == shape_) return;
    shape_ = shape;
    buckets_.clear();
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto dtype = params[i].scalar_type();
      std::int64_t bytes = params[i].numel() * static_cast<std::int64_t>(params[i].element_size());
      bool fits = !buckets_.empty() && buckets_.back().dtype == dtype &&
                  (buckets_.back().numel * static_cast<std::int64_t>(params[i].element_size()) + bytes) <=
                      static_cast<std::int64_t>(opt_.bucket_bytes);
      if (!fits) buckets_.push_back({dtype, {}, 0, {}});
      buckets_.back().params.push_back(i);
      buckets_.back().numel += params[i].numel();
    }
    for (auto& b : buckets_) b.flat = torch::empty({b.numel}, torch::TensorOptions().dtype(b.dtype));
  }

  // Copies parameters (or their gradients; a missing gradient counts as zeros) into the bucket.
  static void pack(Bucket& b, const std::vector<torch::Tensor>& params, bool grads) {
    std::int64_t offset = 0;
    for (std::size_t i : b.params) {
      const auto& p = params[i];
      auto dst = b.flat.narrow(0, offset, p.numel());
      torch::Tensor src = grads ? p.grad() : p;
      if (src.defined())
        dst.copy_(src.reshape({-1}));
      else
        dst.zero_();
      offset += p.numel();
    }
  }

  static void unpack(Bucket& b, const std::vector<torch::Tensor>& params, bool grads, double scale) {
    std::int64_t offset = 0;
    for (std::size_t i : b.params) {
      auto p = params[i];
      auto src = b.flat.narrow(0, offset, p.numel()).view(p.sizes());
      if (!grads) {
        p.detach().copy_(src);
      } else {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        p.grad().copy_(src).mul_(scale);
      }
      offset += p.numel();
    }
  }

  GradSyncOptions opt_;
  Watchdog watchdog_;
  MPI_Comm comm_;
  int rank_ = 0, world_ = 1;
  std::vector<std::int64_t> shape_;
  std::vector<Bucket> buckets_;
};

}  // namespace

std::unique_ptr<GradSync> make_mpi_grad_sync(MPI_Comm comm, GradSyncOptions opt) {
  return std::make_unique<MpiGradSync>(comm, opt);
}

}  // namespace psmflow::dist
