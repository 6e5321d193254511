// The one gradient-sync engine (GradSync over any Transport). Gradients are reduced in flat
// buckets (grad_buckets.hpp: reverse parameter order, started strictly in bucket order on every
// rank), one transport allreduce per bucket, then divided by the number of ranks.
// Plain path: allreduce_gradients() packs and starts the buckets one after the other after
// backward(), testing the earlier ones between (MPI progresses only inside its calls).
// Overlapped path (overlap_backward()): a hook per parameter copies its gradient into its bucket as
// backward() produces it and starts every bucket that has become complete, so the reductions run
// while backward() goes on; allreduce_gradients() starts what is left and waits. Every wait polls
// with short sleeps (a blocking MPI wait busy-polls a core) and ends the job through
// Transport::abort when it outlives the timeout: Open MPI 4.1 has no collective timeouts.
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "psmflow/collectives/grad_buckets.hpp"
#include "psmflow/collectives/transport.hpp"

namespace psmflow::collectives {
namespace {

std::vector<ParamShape> shapes_of(const Transport& t, const std::vector<torch::Tensor>& params) {
  std::vector<ParamShape> out;
  for (const auto& p : params) {
    t.check(p);
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

// A layout with its flat buffers on the transport's device.
struct Buckets {
  Buckets(const std::vector<ParamShape>& shapes, const GradSyncOptions& opt, const torch::Device& device)
      : layout(plan_buckets(shapes, opt.first_bucket_bytes, opt.bucket_bytes)) {
    for (const auto& b : layout.buckets)
      flat.push_back(torch::empty({b.numel}, torch::TensorOptions()
                                                 .dtype(static_cast<torch::ScalarType>(b.dtype))
                                                 .device(device)));
  }
  torch::Tensor slot(std::size_t param) {
    return flat[layout.bucket_of[param]].narrow(0, layout.offset_of[param], layout.shapes[param].numel);
  }
  BucketLayout layout;
  std::vector<torch::Tensor> flat;
};

// One hook per parameter that takes a gradient, calling on_gradient(index, gradient); removed
// when this is destroyed.
class GradientHooks {
 public:
  using OnGradient = std::function<void(std::size_t, const torch::Tensor&)>;
  GradientHooks(const std::vector<torch::Tensor>& params, const OnGradient& on_gradient)
      : params_(params), hooked_(params.size(), 0) {
    for (std::size_t k = 0; k < params_.size(); ++k) {
      if (!params_[k].requires_grad()) continue;
      handles_.emplace_back(k,
                            params_[k].register_hook([on_gradient, k](const torch::Tensor& g) { on_gradient(k, g); }));
      hooked_[k] = 1;
    }
  }
  ~GradientHooks() {
    for (auto [k, handle] : handles_) params_[k].remove_hook(handle);
  }
  GradientHooks(const GradientHooks&) = delete;
  GradientHooks& operator=(const GradientHooks&) = delete;
  // Whether params are the very tensors, in the same order, the hooks were attached to.
  bool attached_to(const std::vector<torch::Tensor>& params) const {
    if (params.size() != params_.size()) return false;
    for (std::size_t k = 0; k < params.size(); ++k)
      if (!params[k].is_same(params_[k])) return false;
    return true;
  }
  std::size_t size() const { return params_.size(); }
  // Parameters without a hook take no gradient: zeros every step.
  bool hooked(std::size_t k) const { return hooked_[k] != 0; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<char> hooked_;
  std::vector<std::pair<std::size_t, unsigned>> handles_;  // (parameter, hook handle)
};

class GradSyncEngine : public GradSync {
 public:
  GradSyncEngine(std::unique_ptr<Transport> transport, const GradSyncOptions& opt)
      : t_(std::move(transport)), opt_(opt), owner_(std::this_thread::get_id()) {}
  ~GradSyncEngine() override { hooks_.reset(); }  // first: the hooks call into this
  int rank() const override { return t_->rank(); }
  int world() const override { return t_->world(); }
  StepStats last_step() const override { return stats_; }

  void broadcast_parameters(const std::vector<torch::Tensor>& params) override {
    if (world() == 1) return;
    Buckets bk(shapes_of(*t_, params), opt_, t_->device());
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < bk.layout.buckets.size(); ++i) {
      if (rank() == 0)
        for (std::size_t k : bk.layout.buckets[i].params) bk.slot(k).copy_(params[k].reshape({-1}));
      t_->start_broadcast(i, bk.flat[i]);
    }
    for (std::size_t i = 0; i < bk.layout.buckets.size(); ++i) {
      wait(i, t_->broadcast_name() + " of parameters");
      if (rank() != 0)
        for (std::size_t k : bk.layout.buckets[i].params) params[k].detach().copy_(bk.slot(k).view(params[k].sizes()));
    }
  }

  void overlap_backward(const std::vector<torch::Tensor>& params) override {
    if (world() == 1) return;  // nothing to average
    if (overlap_) throw std::logic_error("gradient sync: overlap_backward() called twice");
    overlap_ = std::make_unique<Buckets>(shapes_of(*t_, params), opt_, t_->device());
    ready_ = std::make_unique<BucketReadiness>(overlap_->layout);
    hooks_ =
        std::make_unique<GradientHooks>(params, [this](std::size_t k, const torch::Tensor& g) { on_gradient(k, g); });
    start_step();
  }

  void allreduce_gradients(const std::vector<torch::Tensor>& params) override {
    if (world() == 1) return;
    if (hooks_ && hooks_->attached_to(params)) return finish_overlapped(params);
    if (arrived_ > 0)
      throw std::logic_error("gradient sync: allreduce_gradients() got other parameters than overlap_backward()");
    reduce_plain(params);
  }

  void allreduce_sum(std::vector<double>& values) override {
    if (values.empty()) return;
    torch::Tensor v = torch::tensor(values, torch::kDouble).to(t_->device());
    t_->start_allreduce(0, v);  // no bucket is in flight between steps
    wait(0, t_->allreduce_name() + " of loss sums");
    v = v.cpu();
    std::copy(v.data_ptr<double>(), v.data_ptr<double>() + v.numel(), values.begin());
  }

 private:
  // Tests the slot with sleeps growing from 50 us to 2 ms until it finishes or the timeout ends the job.
  void wait(std::size_t slot, const std::string& what) {
    const auto start = std::chrono::steady_clock::now();
    auto nap = std::chrono::microseconds(50);
    while (!t_->test(slot)) {
      if (opt_.timeout.count() > 0 && std::chrono::steady_clock::now() - start > opt_.timeout)
        t_->abort(timeout_message(what));
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(2000));
    }
  }

  std::string timeout_message(const std::string& what) const {
    std::ostringstream s;
    s << "rank " << rank() << ": " << what << " did not finish within " << opt_.timeout.count() / 1000.0
      << " s (a peer is gone or stuck)";
    return s.str();
  }

  void wait_all(std::size_t buckets) {
    for (std::size_t i = 0; i < buckets; ++i)
      wait(i, t_->allreduce_name() + " of gradient bucket " + std::to_string(i));
  }

  // Tests the oldest unfinished reduction: enough for MPI to advance all of them.
  void progress(std::size_t started) {
    while (tested_ < started && t_->test(tested_)) ++tested_;
  }

  // The averaged buckets become the parameters' gradients (a missing one is created).
  void unpack(Buckets& bk, const std::vector<torch::Tensor>& params) {
    for (std::size_t k = 0; k < params.size(); ++k) {
      auto p = params[k];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      p.grad().copy_(bk.slot(k).view(p.sizes())).mul_(1.0 / world());
    }
  }

  void reduce_plain(const std::vector<torch::Tensor>& params) {
    auto shapes = shapes_of(*t_, params);
    if (!plain_ || !same_shapes(plain_->layout.shapes, shapes))
      plain_ = std::make_unique<Buckets>(shapes, opt_, t_->device());
    torch::NoGradGuard no_grad;
    const std::size_t n = plain_->layout.buckets.size();
    tested_ = 0;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t k : plain_->layout.buckets[i].params) {
        auto dst = plain_->slot(k);
        if (params[k].grad().defined())
          dst.copy_(params[k].grad().reshape({-1}));
        else
          dst.zero_();
      }
      t_->start_allreduce(i, plain_->flat[i]);
      progress(i + 1);
    }
    wait_all(n);
    unpack(*plain_, params);
    stats_ = {n, 0};
  }

  // A new step: parameters that take no gradient are zeros from the start.
  void start_step() {
    ready_->reset();
    arrived_ = 0;
    tested_ = 0;
    torch::NoGradGuard no_grad;
    for (std::size_t k = 0; k < hooks_->size(); ++k) {
      if (hooks_->hooked(k)) continue;
      overlap_->slot(k).zero_();
      ready_->mark_ready(k);
    }
  }

  // Runs inside backward(), once per parameter, with the gradient of this backward(): on the
  // calling thread for CPU tensors, on the autograd engine's device thread for CUDA tensors.
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
    // A transport bound to its thread waits for allreduce_gradients() to start the rest.
    if (!t_->starts_from_any_thread() && std::this_thread::get_id() != owner_) return;
    for (std::size_t i : ready_->take_startable()) t_->start_allreduce(i, overlap_->flat[i]);
    progress(ready_->started());
  }

  void finish_overlapped(const std::vector<torch::Tensor>& params) {
    std::lock_guard<std::mutex> lock(mu_);
    torch::NoGradGuard no_grad;
    const std::size_t n = overlap_->layout.buckets.size();
    stats_ = {n, ready_->started()};
    for (std::size_t i : ready_->take_rest()) {
      for (std::size_t k : overlap_->layout.buckets[i].params)
        if (!ready_->is_ready(k)) overlap_->slot(k).zero_();  // no gradient this step
      t_->start_allreduce(i, overlap_->flat[i]);
    }
    wait_all(n);
    unpack(*overlap_, params);
    start_step();
  }

  std::unique_ptr<Transport> t_;
  GradSyncOptions opt_;
  std::thread::id owner_;  // the thread that made the engine (MPI's thread)
  std::unique_ptr<Buckets> plain_;
  StepStats stats_;
  std::size_t tested_ = 0;  // buckets known to be reduced this step
  // Overlapped path.
  std::unique_ptr<Buckets> overlap_;
  std::unique_ptr<BucketReadiness> ready_;
  std::unique_ptr<GradientHooks> hooks_;  // set by overlap_backward()
  std::size_t arrived_ = 0;               // gradients that came through the hooks this step
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<GradSync> make_grad_sync(std::unique_ptr<Transport> transport, const GradSyncOptions& opt) {
  return std::make_unique<GradSyncEngine>(std::move(transport), opt);
}

}  // namespace psmflow::collectives
