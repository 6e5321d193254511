// MPI gradient sync and data-parallel GM training under mpirun -n 1, 2, 3.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include "psmflow/train/gm_sampler.hpp"
#include "psmflow/collectives/grad_buckets.hpp"
#include "psmflow/collectives/grad_sync_backends.hpp"

using namespace psmflow::collectives;
using psmflow::train::GmItem;
using psmflow::train::GmSampler;
using psmflow::train::GmSamplerSetup;

namespace {

std::vector<torch::Tensor> make_params() {
  return {torch::zeros({5}, torch::kFloat).requires_grad_(), torch::zeros({7, 3}, torch::kFloat).requires_grad_(),
          torch::zeros({1}, torch::kFloat).requires_grad_(), torch::zeros({4}, torch::kDouble).requires_grad_(),
          torch::zeros({2, 2}, torch::kFloat).requires_grad_()};
}

GradSyncOptions small_buckets() {
  GradSyncOptions o;
  o.bucket_bytes = 40;  // several buckets, a parameter larger than a bucket, a dtype change
  o.timeout = std::chrono::seconds(60);
  return o;
}

}  // namespace

TEST(GradSyncMpi, AllreduceAveragesGradientsInEveryBucket) {
  auto sync = make_mpi_grad_sync(MPI_COMM_WORLD, small_buckets());
  int r = sync->rank(), w = sync->world();
  auto params = make_params();
  for (std::size_t i = 0; i + 1 < params.size(); ++i)
    params[i].mutable_grad() =
        (r + 1) * torch::arange(params[i].numel(), params[i].options()).view(params[i].sizes()) + 0.5;
  // the last parameter has no gradient on any rank (unused this step)
  sync->allreduce_gradients(params);
  double mean_factor = (w + 1) / 2.0;  // mean of 1..w
  for (std::size_t i = 0; i + 1 < params.size(); ++i) {
    auto base = torch::arange(params[i].numel(), params[i].options()).view(params[i].sizes());
    auto expect = mean_factor * base + 0.5;
    EXPECT_TRUE(torch::allclose(params[i].grad(), expect, 1e-6, 1e-6)) << "parameter " << i << " rank " << r;
  }
  if (w > 1) {
    ASSERT_TRUE(params.back().grad().defined());
    EXPECT_EQ(params.back().grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(GradSyncMpi, BroadcastGivesEveryRankRankZerosParameters) {
  auto sync = make_mpi_grad_sync(MPI_COMM_WORLD, small_buckets());
  auto params = make_params();
  {
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < params.size(); ++i) params[i].fill_(sync->rank() == 0 ? 3.0 + i : -1.0 - sync->rank());
  }
  sync->broadcast_parameters(params);
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(params[i].min().item<double>(), 3.0 + i) << "parameter " << i << " rank " << sync->rank();
}

TEST(GradSyncMpi, AllreduceSumAddsScalars) {
  auto sync = make_mpi_grad_sync(MPI_COMM_WORLD);
  std::vector<double> v = {double(sync->rank()), 1.0};
  sync->allreduce_sum(v);
  int w = sync->world();
  EXPECT_EQ(v[0], w * (w - 1) / 2.0);
  EXPECT_EQ(v[1], w);
}

TEST(GradSyncMpi, FactoryPicksMpiForTheCpu) {
  auto sync = make_grad_sync(MPI_COMM_WORLD, torch::kCPU);
  EXPECT_EQ(sync->world(), [] {
    int w;
    MPI_Comm_size(MPI_COMM_WORLD, &w);
    return w;
  }());
}

// ---- Overlapped path (hooks during backward) == plain path ----------------------------------

namespace {

// Parameters of a small model: `unused` never takes part in the loss; `sometimes` only on ranks
// other than 0, so its bucket completes during backward on some ranks and only at the end on
// rank 0 (the collective order must not differ). Listed unused-first, so its bucket is the last.
struct HookNet {
  torch::Tensor unused = torch::full({3}, 0.5).requires_grad_();
  torch::Tensor w1 = torch::linspace(-1, 1, 24).view({4, 6}).requires_grad_();
  torch::Tensor b1 = torch::full({6}, 0.1).requires_grad_();
  torch::Tensor sometimes = torch::full({6}, 0.2).requires_grad_();
  torch::Tensor w2 = torch::linspace(1, -1, 6).view({6, 1}).requires_grad_();
  torch::Tensor w3 = torch::ones({1}, torch::kDouble).requires_grad_();  // another dtype
  std::vector<torch::Tensor> params() const { return {unused, w1, b1, sometimes, w2, w3}; }

  void backward(int rank, int step) {
    auto x = torch::sin(torch::arange(20, torch::kFloat).view({5, 4}) * (0.3 + 0.1 * rank) + step);
    auto h = torch::tanh(x.matmul(w1) + b1);
    if (rank != 0) h = h * sometimes;
    auto y = h.matmul(w2).sum().to(torch::kDouble) * w3;
    (y * y).sum().backward();
  }
};

HookNet copy_of(const HookNet& n) {
  HookNet c;
  torch::NoGradGuard g;
  auto from = n.params(), to = c.params();
  for (std::size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  return c;
}

// Buckets that can start during backward(): all before the first one holding a parameter without
// a gradient on this rank (`unused` everywhere, `sometimes` on rank 0).
std::size_t startable_in_backward(const HookNet& n, int rank) {
  std::vector<ParamShape> shapes;
  for (const auto& p : n.params())
    shapes.push_back({p.numel(), static_cast<int>(p.scalar_type()), static_cast<std::size_t>(p.element_size())});
  GradSyncOptions o = small_buckets();
  BucketLayout L = plan_buckets(shapes, o.first_bucket_bytes, o.bucket_bytes);
  return std::min(L.bucket_of[0], rank == 0 ? L.bucket_of[3] : L.bucket_of[0]);
}

void zero_grads(const std::vector<torch::Tensor>& params) {
  for (auto p : params)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

}  // namespace

TEST(GradSyncMpi, OverlappedBackwardAveragesLikeThePlainPath) {
  auto plain = make_mpi_grad_sync(MPI_COMM_WORLD, small_buckets());
  auto overlapped = make_mpi_grad_sync(MPI_COMM_WORLD, small_buckets());
  const int r = plain->rank(), w = plain->world();
  HookNet a, b = copy_of(a);
  overlapped->overlap_backward(b.params());
  for (int step = 0; step < 3; ++step) {  // later steps reuse the buckets after a reset
    zero_grads(a.params());
    zero_grads(b.params());
    a.backward(r, step);
    plain->allreduce_gradients(a.params());
    b.backward(r, step);
    overlapped->allreduce_gradients(b.params());
    auto pa = a.params(), pb = b.params();
    for (std::size_t i = 0; i < pa.size(); ++i) {
      // One rank averages nothing: an unused parameter keeps no gradient on either path.
      ASSERT_EQ(pa[i].grad().defined(), pb[i].grad().defined()) << "parameter " << i;
      if (!pa[i].grad().defined()) continue;
      EXPECT_TRUE(torch::allclose(pa[i].grad(), pb[i].grad(), 1e-6, 1e-7))
          << "parameter " << i << " step " << step << " rank " << r << " differs by "
          << (pa[i].grad() - pb[i].grad()).abs().max().item<double>();
    }
    if (w == 1) continue;  // one rank: nothing to average, no buckets
    EXPECT_EQ(pb[0].grad().abs().sum().item<double>(), 0.0) << "the unused parameter counts as zeros";
    EXPECT_GT(pb[3].grad().abs().sum().item<double>(), 0.0) << "the average of ranks that used it";
    auto stats = overlapped->last_step();
    EXPECT_EQ(stats.buckets, 6u);
    EXPECT_EQ(stats.started_in_backward, startable_in_backward(b, r)) << "rank " << r << " step " << step;
  }
}

TEST(GradSyncMpi, OverlappedBackwardRejectsASecondGradientInOneStep) {
  auto sync = make_mpi_grad_sync(MPI_COMM_WORLD, small_buckets());
  if (sync->world() == 1) GTEST_SKIP() << "one rank averages nothing and sets no hooks";
  HookNet n;
  sync->overlap_backward(n.params());
  n.backward(sync->rank(), 0);
  try {
    n.backward(sync->rank(), 1);
    ADD_FAILURE() << "a second backward() in one step was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("arrived twice"), std::string::npos) << e.what();
  }
  // The step still completes on every rank (same collectives everywhere), and the next works.
  sync->allreduce_gradients(n.params());
  zero_grads(n.params());
  n.backward(sync->rank(), 2);
  sync->allreduce_gradients(n.params());
  EXPECT_EQ(sync->last_step().started_in_backward, startable_in_backward(n, sync->rank()));
}

// ---- GM equivalence: K ranks x batch B == 1 rank x batch K*B -------------------------------

namespace {

struct TinyNet : torch::nn::Module {
  TinyNet() {
    fc1 = register_module("fc1", torch::nn::Linear(8, 6));
    fc2 = register_module("fc2", torch::nn::Linear(6, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::tanh(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

// A "frame" of subject s is a deterministic 4-vector; a pair is the two frames side by side (the
// second mirrored when flipped), its target a fixed function of both.
torch::Tensor frame(const GmItem& it, std::int64_t f) {
  auto k = torch::arange(4, torch::kFloat);
  return torch::sin(k * 0.7 + it.subject * 1.3 + f * 0.11);
}
std::pair<torch::Tensor, torch::Tensor> batch_of(const std::vector<GmItem>& items, std::size_t from, std::size_t n) {
  std::vector<torch::Tensor> xs, ys;
  for (std::size_t i = from; i < from + n; ++i) {
    auto a = frame(items[i], items[i].a);
    auto b = items[i].flip ? a.flip(0) : frame(items[i], items[i].b);
    xs.push_back(torch::cat({a, b}));
    ys.push_back((a * b).sum().view({1}));
  }
  return {torch::stack(xs), torch::stack(ys)};
}

std::vector<torch::Tensor> train(const GmSampler& sampler, GradSync* sync, int epochs) {
  torch::manual_seed(7);
  TinyNet net;
  auto params = net.parameters();
  if (sync) {
    if (sync->rank() != 0) {
      torch::NoGradGuard g;
      for (auto& p : params) p.uniform_(-1, 1);  // rank 0's start must win
    }
    sync->broadcast_parameters(params);
  }
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-2).betas({0.5, 0.999}));
  std::size_t b = static_cast<std::size_t>(sampler.setup().batch);
  for (int e = 1; e <= epochs; ++e) {
    auto items = sampler.rank_epoch(e);
    for (std::size_t s = 0; s < items.size(); s += b) {
      auto [x, y] = batch_of(items, s, b);
      adam.zero_grad();
      torch::mse_loss(net.forward(x), y).backward();
      if (sync) sync->allreduce_gradients(params);
      adam.step();
    }
  }
  return params;
}

void expect_equivalent(const std::string& mode) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const int per_rank = 3;
  GmSamplerSetup s;
  s.frames = {40, 25, 60, 33};
  s.mode = mode;
  s.seed = 11;
  s.items_per_epoch = 4 * per_rank * world + 2;  // 4 steps, and a partial global batch to drop
  s.rank = rank;
  s.world = world;
  s.batch = per_rank;
  GmSampler dist_sampler(s);
  GmSamplerSetup one = s;
  one.rank = 0;
  one.world = 1;
  one.batch = per_rank * world;
  GmSampler single(one);
  ASSERT_EQ(dist_sampler.steps_per_epoch(), single.steps_per_epoch());
  auto sync = make_mpi_grad_sync(MPI_COMM_WORLD, small_buckets());
  auto distributed = train(dist_sampler, sync.get(), 2);
  auto reference = train(single, nullptr, 2);  // every rank computes the 1-rank run locally
  for (std::size_t i = 0; i < reference.size(); ++i)
    EXPECT_TRUE(torch::allclose(distributed[i], reference[i], 1e-4, 1e-5))
        << mode << " parameter " << i << " differs on rank " << rank << " by "
        << (distributed[i] - reference[i]).abs().max().item<double>();
  // and the run moved the parameters at all
  torch::manual_seed(7);
  TinyNet fresh;
  EXPECT_GT((fresh.parameters()[0] - reference[0]).abs().max().item<double>(), 1e-3);
}

}  // namespace

TEST(GmEquivalence, KRanksTimesBatchEqualsOneRankTimesKBatchGm) { expect_equivalent("gm"); }
TEST(GmEquivalence, KRanksTimesBatchEqualsOneRankTimesKBatchGmCtl) { expect_equivalent("gm-ctl"); }
