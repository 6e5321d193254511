// The gradient-sync engine's logic over a fake transport (no MPI): bucket order, readiness in any
// gradient order, the overlapped path equal to the plain one, the thread rule, timeouts.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "psmflow/collectives/grad_buckets.hpp"
#include "psmflow/collectives/transport.hpp"

using namespace psmflow::collectives;

namespace {

// What happened, in order: "grad K" (a test hook saw parameter K's gradient), "start I N" (bucket
// or slot I of N elements started), "bcast I".
using Log = std::vector<std::string>;

// Rank `rank` of `world` ranks whose peers each contribute `peer_value` to every element of every
// sum, and whose rank 0 broadcasts `root_value`. An operation finishes after `delay` tests
// (never when delay < 0).
class FakeTransport : public Transport {
 public:
  FakeTransport(Log& log, int rank, int world, int delay, bool any_thread = true)
      : log_(log), rank_(rank), world_(world), delay_(delay), any_thread_(any_thread) {}
  double peer_value = 1.0, root_value = 7.0;
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string allreduce_name() const override { return "FakeAllreduce"; }
  std::string broadcast_name() const override { return "FakeBroadcast"; }
  torch::Device device() const override { return torch::kCPU; }
  void check(const torch::Tensor& p) const override {
    if (p.scalar_type() == torch::kInt) throw std::runtime_error("fake transport: no int tensors");
  }
  bool starts_from_any_thread() const override { return any_thread_; }
  void start_allreduce(std::size_t slot, const torch::Tensor& flat) override {
    busy(slot);
    log_.push_back("start " + std::to_string(slot) + " " + std::to_string(flat.numel()));
    torch::NoGradGuard g;
    flat.add_(peer_value * (world_ - 1));
  }
  void start_broadcast(std::size_t slot, const torch::Tensor& flat) override {
    busy(slot);
    log_.push_back("bcast " + std::to_string(slot));
    torch::NoGradGuard g;
    if (rank_ != 0) flat.fill_(root_value);
  }
  bool test(std::size_t slot) override {
    if (slot >= left_.size() || left_[slot] == 0) return true;
    if (left_[slot] > 0) --left_[slot];
    return left_[slot] == 0;
  }
  [[noreturn]] void abort(const std::string& message) override { throw std::runtime_error(message); }

 private:
  // A slot must not be reused before test() said its operation finished.
  void busy(std::size_t slot) {
    if (slot >= left_.size()) left_.resize(slot + 1, 0);
    if (left_[slot] != 0) throw std::logic_error("slot " + std::to_string(slot) + " reused while in flight");
    left_[slot] = delay_ < 0 ? -1 : delay_ + 1;
  }
  Log& log_;
  int rank_, world_, delay_;
  bool any_thread_;
  std::vector<int> left_;
};

GradSyncOptions small_buckets(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  GradSyncOptions o;
  o.bucket_bytes = 40;  // several buckets, one parameter larger than a bucket, a dtype change
  o.timeout = timeout;
  return o;
}

std::unique_ptr<GradSync> engine(Log& log, int delay, GradSyncOptions opt = small_buckets(), bool any_thread = true) {
  return make_grad_sync(std::make_unique<FakeTransport>(log, 1, 3, delay, any_thread), opt);
}

std::vector<ParamShape> shapes_of(const std::vector<torch::Tensor>& params) {
  std::vector<ParamShape> out;
  for (const auto& p : params)
    out.push_back({p.numel(), static_cast<int>(p.scalar_type()), static_cast<std::size_t>(p.element_size())});
  return out;
}

std::vector<std::string> starts(const Log& log) {
  std::vector<std::string> out;
  for (const auto& e : log)
    if (e.rfind("start", 0) == 0) out.push_back(e);
  return out;
}

// The start events plan_buckets() predicts: bucket order, each bucket's size.
std::vector<std::string> planned_starts(const std::vector<torch::Tensor>& params) {
  GradSyncOptions o = small_buckets();
  BucketLayout L = plan_buckets(shapes_of(params), o.first_bucket_bytes, o.bucket_bytes);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < L.buckets.size(); ++i)
    out.push_back("start " + std::to_string(i) + " " + std::to_string(L.buckets[i].numel));
  return out;
}

// Parameters whose gradients arrive in FORWARD order (p1 first), the opposite of the order the
// buckets assume (the last parameter first): each loss term is computed before the previous
// parameter's, and autograd runs the newest node first. p0 never takes part in the loss; listed
// first, it lands in the last bucket, which therefore cannot start during backward().
struct ReverseNet {
  std::vector<torch::Tensor> p = {torch::full({3}, 0.5).requires_grad_(), torch::linspace(0.1, 1, 6).requires_grad_(),
                                  torch::full({7}, 0.3).requires_grad_(),
                                  torch::full({2}, 0.2, torch::kDouble).requires_grad_(),
                                  torch::linspace(-1, 1, 12).requires_grad_()};
  void backward(int step) {
    torch::Tensor loss = torch::zeros({}, torch::kDouble);
    for (std::size_t k = p.size() - 1; k >= 1; --k)
      loss = loss + (p[k] * p[k] * (1.0 + 0.1 * step + 0.01 * k)).sum().to(torch::kDouble);
    loss.backward();
  }
};

ReverseNet copy_of(const ReverseNet& n) {
  ReverseNet c;
  torch::NoGradGuard g;
  for (std::size_t k = 0; k < n.p.size(); ++k) c.p[k].copy_(n.p[k]);
  return c;
}

void zero_grads(const std::vector<torch::Tensor>& params) {
  for (auto q : params)
    if (q.grad().defined()) q.mutable_grad().zero_();
}

// Records "grad K" as each gradient arrives; registered before the engine's hooks, so it runs first.
void log_gradients(Log& log, const std::vector<torch::Tensor>& params) {
  for (std::size_t k = 0; k < params.size(); ++k)
    if (params[k].requires_grad())
      params[k].register_hook([&log, k](const torch::Tensor&) { log.push_back("grad " + std::to_string(k)); });
}

}  // namespace

TEST(GradSyncEngine, PlainPathStartsEveryBucketInOrderAndAverages) {
  Log log;
  auto sync = engine(log, 2);
  ReverseNet n;
  n.backward(0);
  std::vector<torch::Tensor> local;
  for (std::size_t k = 0; k < n.p.size(); ++k)
    local.push_back(n.p[k].grad().defined() ? n.p[k].grad().clone() : torch::zeros_like(n.p[k]));
  sync->allreduce_gradients(n.p);
  EXPECT_EQ(starts(log), planned_starts(n.p));
  for (std::size_t k = 0; k < n.p.size(); ++k) {
    ASSERT_TRUE(n.p[k].grad().defined()) << "parameter " << k;
    auto expect = (local[k] + 2 * 1.0) / 3;  // two peers contributed 1.0 each
    EXPECT_TRUE(torch::allclose(n.p[k].grad(), expect, 1e-6, 1e-7)) << "parameter " << k;
  }
  EXPECT_EQ(sync->last_step().buckets, planned_starts(n.p).size());
  EXPECT_EQ(sync->last_step().started_in_backward, 0u);
}

TEST(GradSyncEngine, OverlappedPathStartsABucketOnlyWhenItAndAllBeforeItAreReady) {
  Log log;
  auto sync = engine(log, 1);
  ReverseNet n;
  log_gradients(log, n.p);
  sync->overlap_backward(n.p);
  GradSyncOptions o = small_buckets();
  BucketLayout L = plan_buckets(shapes_of(n.p), o.first_bucket_bytes, o.bucket_bytes);
  n.backward(0);
  ASSERT_EQ(log.front(), "grad 1") << "the test net's gradients must arrive out of bucket order";
  std::vector<char> arrived(n.p.size(), 0);
  std::size_t next = 0;
  for (const auto& e : log) {  // every start during backward(), against the gradients before it
    if (e.rfind("grad ", 0) == 0) {
      arrived[std::stoul(e.substr(5))] = 1;
      continue;
    }
    std::size_t bucket = std::stoul(e.substr(6));
    EXPECT_EQ(bucket, next++) << "buckets must start in bucket order";
    for (std::size_t i = 0; i <= bucket; ++i)
      for (std::size_t k : L.buckets[i].params)
        EXPECT_TRUE(arrived[k]) << "bucket " << bucket << " started before parameter " << k << "'s gradient";
  }
  EXPECT_EQ(next, L.bucket_of[0]) << "every bucket before p0's starts during backward()";
  sync->allreduce_gradients(n.p);
  EXPECT_EQ(starts(log), planned_starts(n.p));
  EXPECT_EQ(sync->last_step().started_in_backward, L.bucket_of[0]);
  EXPECT_NEAR(n.p[0].grad().abs().max().item<double>(), 2.0 / 3, 1e-6) << "p0 counts as zeros, plus the peers' 1.0 each";
}

TEST(GradSyncEngine, OverlappedEqualsPlainOverSeveralSteps) {
  Log plain_log, overlap_log;
  auto plain = engine(plain_log, 3);
  auto overlapped = engine(overlap_log, 3);
  ReverseNet a, b = copy_of(a);
  b.p[1].requires_grad_(false);  // takes no hook: zeros every step on the overlapped path
  a.p[1].requires_grad_(false);
  overlapped->overlap_backward(b.p);
  for (int step = 0; step < 3; ++step) {  // later steps reuse the buckets after a reset
    zero_grads(a.p);
    zero_grads(b.p);
    a.backward(step);
    plain->allreduce_gradients(a.p);
    b.backward(step);
    overlapped->allreduce_gradients(b.p);
    for (std::size_t k = 0; k < a.p.size(); ++k) {
      ASSERT_TRUE(b.p[k].grad().defined()) << "parameter " << k;
      EXPECT_TRUE(torch::allclose(a.p[k].grad(), b.p[k].grad(), 1e-6, 1e-7)) << "parameter " << k << " step " << step;
    }
    EXPECT_GT(overlapped->last_step().started_in_backward, 0u) << "step " << step;
  }
  EXPECT_EQ(starts(plain_log), starts(overlap_log)) << "the same collectives in the same order";
}

TEST(GradSyncEngine, ATransportBoundToItsThreadStartsNothingFromAnotherThread) {
  for (bool any_thread : {false, true}) {
    Log log;
    auto sync = engine(log, 0, small_buckets(), any_thread);
    ReverseNet n;
    sync->overlap_backward(n.p);
    std::thread([&] { n.backward(0); }).join();  // hooks run on that thread
    EXPECT_EQ(starts(log).empty(), !any_thread) << "any_thread " << any_thread;
    sync->allreduce_gradients(n.p);
    EXPECT_EQ(starts(log), planned_starts(n.p));
    EXPECT_EQ(sync->last_step().started_in_backward == 0, !any_thread);
  }
}

TEST(GradSyncEngine, ASecondGradientInOneStepIsRefused) {
  Log log;
  auto sync = engine(log, 0);
  ReverseNet n;
  sync->overlap_backward(n.p);
  n.backward(0);
  try {
    n.backward(1);
    ADD_FAILURE() << "a second backward() in one step was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("arrived twice"), std::string::npos) << e.what();
  }
  sync->allreduce_gradients(n.p);  // the step still completes
}

TEST(GradSyncEngine, BroadcastGivesRankZerosValues) {
  Log log;
  auto sync = engine(log, 1);
  ReverseNet n;
  sync->broadcast_parameters(n.p);
  for (std::size_t k = 0; k < n.p.size(); ++k) EXPECT_EQ(n.p[k].min().item<double>(), 7.0) << "parameter " << k;
  EXPECT_EQ(log.size(), planned_starts(n.p).size());
}

TEST(GradSyncEngine, AllreduceSumAddsThePeers) {
  Log log;
  auto sync = engine(log, 2);
  std::vector<double> v = {0.5, 2.0};
  sync->allreduce_sum(v);
  EXPECT_EQ(v, (std::vector<double>{2.5, 4.0}));
}

TEST(GradSyncEngine, ACollectiveThatNeverFinishesEndsTheJobNamingIt) {
  Log log;
  auto sync = engine(log, -1, small_buckets(std::chrono::milliseconds(50)));
  std::vector<double> v = {1.0};
  auto start = std::chrono::steady_clock::now();
  try {
    sync->allreduce_sum(v);
    ADD_FAILURE() << "a collective that never finished returned";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "rank 1: FakeAllreduce of loss sums did not finish within 0.05 s (a peer is gone or stuck)");
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  ReverseNet n;
  n.backward(0);
  auto grads = engine(log, -1, small_buckets(std::chrono::milliseconds(50)));
  try {
    grads->allreduce_gradients(n.p);
    ADD_FAILURE() << "a gradient bucket that never finished returned";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("FakeAllreduce of gradient bucket 0 did not finish"), std::string::npos)
        << e.what();
  }
}

TEST(GradSyncEngine, ParametersTheTransportCannotCarryAreRefused) {
  Log log;
  auto sync = engine(log, 0);
  std::vector<torch::Tensor> params = {torch::zeros({3}, torch::kInt)};
  EXPECT_THROW(sync->allreduce_gradients(params), std::runtime_error);
  EXPECT_TRUE(log.empty());
}
