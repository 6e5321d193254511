// GradSync over MPI for CPU tensors. Gradients are reduced in flat buckets (grad_buckets.hpp:
// reverse parameter order, started strictly in bucket order), one MPI_Iallreduce per bucket.
// Plain path: allreduce_gradients() packs and starts the buckets one after the other after
// backward(). Overlapped path (overlap_backward()): a hook per parameter copies its gradient into
// the bucket as backward() produces it and starts every bucket that has become complete; the
// MPI_Test calls of later hooks drive Open MPI's progress, so the reductions run while backward()
// goes on, and allreduce_gradients() only starts what is left and waits.
#include <torch/torch.h>

#include <mutex>
#include <thread>
#include <vector>

#include "psmflow/collectives/grad_buckets.hpp"
#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/collectives/mpi.hpp"
#include "psmflow/collectives/watchdog.hpp"

namespace psmflow::collectives {
namespace {

MPI_Datatype mpi_type(torch::ScalarType t) {
  if (t == torch::kFloat) return MPI_FLOAT;
  if (t == torch::kDouble) return MPI_DOUBLE;
  throw std::runtime_error(std::string("MPI gradient sync: unsupported dtype ") + c10::toString(t));
}

std::vector<ParamShape> shapes_of(const std::vector<torch::Tensor>& params) {
  std::vector<ParamShape> out;
  for (const auto& p : params) {
    if (p.device().type() != torch::kCPU)
      throw std::runtime_error("MPI gradient sync needs CPU tensors; use the NCCL backend for CUDA");
    mpi_type(p.scalar_type());
    out.push_back({p.numel(), static_cast<int>(p.scalar_type()), static_cast<std::size_t>(p.element_size())});
  }
  return out;
}

bool same_shapes(const std::vector<ParamShape>& a, const std::vector<ParamShape>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].numel != b[i].numel || a[i].dtype != b[i].dtype) return false;
  return true;
}

// A layout with its flat CPU buffers.
struct Buckets {
  Buckets(const std::vector<ParamShape>& shapes, const GradSyncOptions& opt)
      : layout(plan_buckets(shapes, opt.first_bucket_bytes, opt.bucket_bytes)) {
    for (const auto& b : layout.buckets)
      flat.push_back(torch::empty({b.numel}, torch::TensorOptions().dtype(static_cast<torch::ScalarType>(b.dtype))));
  }
  torch::Tensor slot(std::size_t param) {
    return flat[layout.bucket_of[param]].narrow(0, layout.offset_of[param], layout.shapes[param].numel);
  }
  BucketLayout layout;
  std::vector<torch::Tensor> flat;
};

class MpiGradSync : public GradSync {
 public:
  MpiGradSync(MPI_Comm comm, GradSyncOptions opt) : opt_(opt), watchdog_(opt.timeout) {
    PSMFLOW_MPI(MPI_Comm_dup(comm, &comm_));
    PSMFLOW_MPI(MPI_Comm_rank(comm_, &rank_));
    PSMFLOW_MPI(MPI_Comm_size(comm_, &world_));
  }
  ~MpiGradSync() override {
    hooks_.reset();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  StepStats last_step() const override { return stats_; }

  void broadcast_parameters(const std::vector<torch::Tensor>& params) override {
    Buckets bk(shapes_of(params), opt_);
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < bk.layout.buckets.size(); ++i) {
      const auto& b = bk.layout.buckets[i];
      if (rank_ == 0)
        for (std::size_t k : b.params) bk.slot(k).copy_(params[k].reshape({-1}));
      MPI_Request req;
      PSMFLOW_MPI(MPI_Ibcast(bk.flat[i].data_ptr(), static_cast<int>(b.numel),
                             mpi_type(params[b.params[0]].scalar_type()), 0, comm_, &req));
      wait(req, "MPI_Ibcast of parameters");
      if (rank_ != 0)
        for (std::size_t k : b.params) params[k].detach().copy_(bk.slot(k).view(params[k].sizes()));
    }
  }

  void overlap_backward(const std::vector<torch::Tensor>& params) override {
    if (world_ == 1) return;  // nothing to average
    if (overlap_) throw std::logic_error("MPI gradient sync: overlap_backward() called twice");
    overlap_ = std::make_unique<Buckets>(shapes_of(params), opt_);
    ready_ = std::make_unique<BucketReadiness>(overlap_->layout);
    requests_.assign(overlap_->layout.buckets.size(), MPI_REQUEST_NULL);
    owner_ = std::this_thread::get_id();
    hooks_ =
        std::make_unique<GradientHooks>(params, [this](std::size_t k, const torch::Tensor& g) { on_gradient(k, g); });
    start_step();
  }

  void allreduce_gradients(const std::vector<torch::Tensor>& params) override {
    if (world_ == 1) return;
    if (hooks_ && hooks_->attached_to(params)) return finish_overlapped(params);
    if (arrived_ > 0)
      throw std::logic_error("MPI gradient sync: allreduce_gradients() got other parameters than overlap_backward()");
    reduce_plain(params);
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

  void start(Buckets& bk, std::size_t i, MPI_Request& req) {
    const auto& b = bk.layout.buckets[i];
    PSMFLOW_MPI(MPI_Iallreduce(MPI_IN_PLACE, bk.flat[i].data_ptr(), static_cast<int>(b.numel),
                               mpi_type(static_cast<torch::ScalarType>(b.dtype)), MPI_SUM, comm_, &req));
  }

  void wait_all(std::vector<MPI_Request>& reqs) {
    Watchdog::Scope guard(watchdog_, "MPI_Iallreduce of the gradient buckets");
    PSMFLOW_MPI(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE));
  }

  // The averaged buckets become the parameters' gradients (a missing one is created).
  void unpack(Buckets& bk, const std::vector<torch::Tensor>& params) {
    for (std::size_t k = 0; k < params.size(); ++k) {
      auto p = params[k];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      p.grad().copy_(bk.slot(k).view(p.sizes())).mul_(1.0 / world_);
    }
  }

  // Packing the next bucket overlaps the reduction of the previous ones (MPI_Test drives them).
  void reduce_plain(const std::vector<torch::Tensor>& params) {
    auto shapes = shapes_of(params);
    if (!plain_ || !same_shapes(plain_->layout.shapes, shapes)) plain_ = std::make_unique<Buckets>(shapes, opt_);
    torch::NoGradGuard no_grad;
    std::vector<MPI_Request> reqs(plain_->layout.buckets.size(), MPI_REQUEST_NULL);
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      for (std::size_t k : plain_->layout.buckets[i].params) {
        auto dst = plain_->slot(k);
        if (params[k].grad().defined())
          dst.copy_(params[k].grad().reshape({-1}));
        else
          dst.zero_();
      }
      start(*plain_, i, reqs[i]);
      int done = 0;
      for (std::size_t j = 0; j <= i; ++j) PSMFLOW_MPI(MPI_Test(&reqs[j], &done, MPI_STATUS_IGNORE));
    }
    wait_all(reqs);
    unpack(*plain_, params);
    stats_ = {reqs.size(), 0};
  }

  // A new step: parameters that take no gradient are zeros from the start.
  void start_step() {
    ready_->reset();
    arrived_ = 0;
    torch::NoGradGuard no_grad;
    for (std::size_t k = 0; k < hooks_->size(); ++k) {
      if (hooks_->hooked(k)) continue;
      overlap_->slot(k).zero_();
      ready_->mark_ready(k);
    }
  }

  // Runs inside backward(), once per parameter, with the gradient of this backward().
  void on_gradient(std::size_t k, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_->mark_ready(k);  // first: a second gradient must not touch a bucket being reduced
    ++arrived_;
    {
      torch::NoGradGuard no_grad;
      auto dst = overlap_->slot(k);
      if (grad.defined())
        dst.copy_(grad.reshape({-1}));
      else
        dst.zero_();
    }
    // MPI may be called only from the thread that owns it (MPI_THREAD_FUNNELED); CPU backward
    // runs hooks on the calling thread, and anything else waits for allreduce_gradients().
    if (std::this_thread::get_id() != owner_) return;
    for (std::size_t i : ready_->take_startable()) start(*overlap_, i, requests_[i]);
    progress();
  }

  // Tests the oldest unfinished reduction: enough for Open MPI to advance all of them.
  void progress() {
    while (tested_ < ready_->started()) {
      int done = 0;
      PSMFLOW_MPI(MPI_Test(&requests_[tested_], &done, MPI_STATUS_IGNORE));
      if (!done) return;
      ++tested_;
    }
  }

  void finish_overlapped(const std::vector<torch::Tensor>& params) {
    std::lock_guard<std::mutex> lock(mu_);
    torch::NoGradGuard no_grad;
    stats_ = {overlap_->layout.buckets.size(), ready_->started()};
    for (std::size_t i : ready_->take_rest()) {
      for (std::size_t k : overlap_->layout.buckets[i].params)
        if (!ready_->is_ready(k)) overlap_->slot(k).zero_();  // no gradient this step
      start(*overlap_, i, requests_[i]);
    }
    wait_all(requests_);
    unpack(*overlap_, params);
    tested_ = 0;
    start_step();
  }

  GradSyncOptions opt_;
  Watchdog watchdog_;
  MPI_Comm comm_;
  int rank_ = 0, world_ = 1;
  std::unique_ptr<Buckets> plain_;
  StepStats stats_;
  // Overlapped path.
  std::unique_ptr<Buckets> overlap_;
  std::unique_ptr<BucketReadiness> ready_;
  std::unique_ptr<GradientHooks> hooks_;  // set by overlap_backward()
  std::size_t arrived_ = 0;               // gradients that came through the hooks this step
  std::vector<MPI_Request> requests_;
  std::size_t tested_ = 0;  // buckets known to be reduced this step
  std::thread::id owner_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<GradSync> make_mpi_grad_sync(MPI_Comm comm, GradSyncOptions opt) {
  return std::make_unique<MpiGradSync>(comm, opt);
}

}  // namespace psmflow::collectives
