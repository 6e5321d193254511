// GM equivalence through the real trainer: train::Trainer fed by GmPairSampler over frames.h5 files
// (CohortFrames) with the MPI GradSync, K ranks x batch B, ends with the parameters of the same
// trainer on one rank with batch K*B.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <random>

#include "psmflow/train/gm_data.hpp"
#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/store/frames.hpp"
#include "psmflow/train/loader.hpp"
#include "psmflow/train/trainer.hpp"
#include "support/test_support.hpp"

using namespace psmflow;

namespace {

struct StandInImpl : torch::nn::Module {
  StandInImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).stride(4)));
    fc = register_module("fc", torch::nn::Linear(4, 2));
  }
  torch::Tensor code(const torch::Tensor& x) { return fc(torch::tanh(conv(x)).mean({2, 3})); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(StandIn);

// A loss of both images of each pair, so that a wrong pairing or batch split shows in the result.
class StandInNet : public train::TrainableNet {
 public:
  StandInNet() {
    torch::manual_seed(5);
    net_ = StandIn();
  }
  torch::nn::Module& module() override { return *net_; }
  model::LossTerms loss(const torch::Tensor& x0, const torch::Tensor& x1, double) override {
    auto l = (net_->code(x0) - net_->code(x1).flip(1) + 0.3).pow(2).mean();
    auto zero = torch::zeros({});
    return {l, l.detach(), zero, zero, zero};
  }
  std::vector<torch::Tensor> trainable_parameters() override { return net_->parameters(); }
  model::Embedding embed(const torch::Tensor& x) override { return {net_->code(x), net_->code(x)}; }
  std::string describe() const override { return "stand-in"; }

 private:
  StandIn net_{nullptr};
};

void write_frames(const fs::path& file, int n, unsigned seed) {
  FramesMeta meta;
  meta.crop_size = 64;
  FramesWriter w(file, meta);
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> rgb(64 * 64 * 3);
  for (int i = 0; i < n; ++i) {
    for (auto& v : rgb) v = static_cast<std::uint8_t>(rng() % 256);
    w.append(rgb.data(), i, i / 20.0, {0, 0, 64, 64}, i % 5 != 3);  // a few undetected frames are skipped
  }
  w.close();
}

// overlap: gradients averaged during backward (as gm_training.cpp does); augment: random crops,
// jitter and flips keyed by the rank's first slot in the global batch (as gm_training.cpp does).
std::vector<torch::Tensor> train_with(const train::CohortFrames& frames, int rank, int world, int batch,
                                      collectives::GradSync* sync, const fs::path& out, const std::string& mode,
                                      bool overlap = false, bool augment = false) {
  train::GmSamplerSetup s;
  s.mode = mode;
  s.seed = 9;
  s.rank = rank;
  s.world = world;
  s.batch = batch;
  s.items_per_epoch = 30;
  train::GmPairSampler pairs(frames, s);
  StandInNet net;
  train::TrainOptions opt;
  opt.section.epochs = 2;
  opt.section.batch = batch;
  opt.section.lr_epochs = {1};
  opt.section.lr_values = {1e-2};
  opt.section.checkpoint_every = 0;
  opt.section.sample_every = 0;
  opt.section.augment = augment;
  opt.first_slot = pairs.sampler().first_slot();
  if (sync && overlap) sync->overlap_backward(net.trainable_parameters());
  opt.seed = 9;
  opt.config_hash = "test";
  opt.out_dir = out;
  opt.loader_depth = 0;
  opt.label = "GM test";
  train::Trainer(net, frames, pairs, opt, sync).run();
  std::vector<torch::Tensor> params;
  for (auto& p : net.trainable_parameters()) params.push_back(p.detach().clone());
  return params;
}

}  // namespace

class GmTrainer : public ::testing::TestWithParam<std::string> {};

TEST_P(GmTrainer, KRanksTimesBatchEqualsOneRankTimesKBatch) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  // Every rank writes its own copy of the inputs: no shared folder needed.
  test::ScratchDir dir;
  std::vector<fs::path> files = {dir / "a.h5", dir / "b.h5", dir / "c.h5"};
  write_frames(files[0], 20, 1);
  write_frames(files[1], 14, 2);
  write_frames(files[2], 25, 3);
  train::CohortFrames frames(files, 2);  // fewer open files than subjects: readers are reopened
  ASSERT_EQ(frames.size(), 16 + 11 + 20);
  const int per_rank = 2;
  auto sync = collectives::make_mpi_grad_sync(MPI_COMM_WORLD);
  auto distributed = train_with(frames, rank, world, per_rank, sync.get(), dir / "dist", GetParam());
  auto reference = train_with(frames, 0, 1, per_rank * world, nullptr, dir / "ref", GetParam());
  StandInNet fresh;
  auto start = fresh.trainable_parameters();
  for (std::size_t i = 0; i < reference.size(); ++i) {
    EXPECT_TRUE(torch::allclose(distributed[i], reference[i], 1e-4, 1e-5))
        << GetParam() << " parameter " << i << " rank " << rank << " differs by "
        << (distributed[i] - reference[i]).abs().max().item<double>();
    EXPECT_GT((reference[i] - start[i]).abs().max().item<double>(), 1e-4) << "training did not move parameter " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, GmTrainer, ::testing::Values("gm", "gm-ctl"));

// The GM's own settings: gradients averaged during backward, augmentation on. Each rank draws its
// own augmentations, and together they draw those of the 1-rank run, so the runs still agree.
TEST(GmTrainerOverlap, OverlappedAndAugmentedKRanksEqualOneRank) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  test::ScratchDir dir;
  std::vector<fs::path> files = {dir / "a.h5", dir / "b.h5"};
  write_frames(files[0], 20, 4);
  write_frames(files[1], 25, 5);
  train::CohortFrames frames(files);
  auto sync = collectives::make_mpi_grad_sync(MPI_COMM_WORLD);
  auto distributed = train_with(frames, rank, world, 2, sync.get(), dir / "dist", "gm", true, true);
  auto reference = train_with(frames, 0, 1, 2 * world, nullptr, dir / "ref", "gm", false, true);
  auto plain = train_with(frames, 0, 1, 2 * world, nullptr, dir / "noaug", "gm", false, false);
  for (std::size_t i = 0; i < reference.size(); ++i) {
    EXPECT_TRUE(torch::allclose(distributed[i], reference[i], 1e-4, 1e-5))
        << "parameter " << i << " rank " << rank << " differs by "
        << (distributed[i] - reference[i]).abs().max().item<double>();
  }
  EXPECT_FALSE(torch::allclose(reference[0], plain[0], 1e-4, 1e-5)) << "augmentation changed nothing";
  if (world > 1) {
    EXPECT_GT(sync->last_step().started_in_backward, 0u) << "no bucket started during backward";
  }
}

namespace {

// Every frame is the same noise image: images of a batch differ only by their augmentation.
class SameFrame : public train::FrameStore {
 public:
  SameFrame() : rgb_(64 * 64 * 3) {
    std::mt19937 rng(3);
    for (auto& v : rgb_) v = static_cast<std::uint8_t>(rng() % 256);
  }
  std::int64_t size() const override { return 10; }
  int crop_size() const override { return 64; }
  const std::uint8_t* frame(std::int64_t) const override { return rgb_.data(); }

 private:
  std::vector<std::uint8_t> rgb_;
};

// The first batch rank r of `world` draws (epoch 3, seed 9, 2 pairs per rank).
torch::Tensor first_batch(const train::FrameStore& frames, int r, int world) {
  train::GmSamplerSetup s;
  s.frames = {10};
  s.rank = r;
  s.world = world;
  s.batch = 2;
  s.items_per_epoch = 100;
  train::GmSampler sampler(s);
  std::vector<train::Pair> pairs(4, train::Pair{1, 2, false});
  auto b = train::make_batch(frames, pairs, s.batch, 0, 9, 3, true, {}, sampler.first_slot());
  return torch::cat({b.x0, b.x1});
}

}  // namespace

TEST(GmAugmentation, EachRankDrawsItsOwnAugmentations) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  SameFrame frames;
  const int w = std::max(world, 2);  // with one process, compare with the ranks of a 2-rank run
  std::vector<torch::Tensor> local;
  for (int r = 0; r < w; ++r) local.push_back(first_batch(frames, r, w));
  for (int r = 1; r < w; ++r)
    EXPECT_FALSE(torch::allclose(local[0], local[r], 1e-3, 1e-3)) << "ranks 0 and " << r << " drew the same";
  // The ranks' draws are those of one rank with a batch of w x 2 (slice r), so they are
  // reproducible from (seed, epoch, step, slot) alone, as a resumed run needs.
  std::vector<train::Pair> pairs(2 * w, train::Pair{1, 2, false});
  auto whole = train::make_batch(frames, pairs, 2 * w, 0, 9, 3, true);
  for (int r = 0; r < w; ++r) {
    EXPECT_TRUE(torch::equal(local[r].narrow(0, 0, 2), whole.x0.narrow(0, 2 * r, 2))) << "rank " << r;
    EXPECT_TRUE(torch::equal(local[r].narrow(0, 2, 2), whole.x1.narrow(0, 2 * r, 2))) << "rank " << r;
  }
  if (world == 1) return;
  // What the other processes really drew is what this one computes for them.
  auto mine = local[static_cast<std::size_t>(rank)].contiguous();
  auto all = torch::empty({world * mine.numel()});
  MPI_Allgather(mine.data_ptr<float>(), static_cast<int>(mine.numel()), MPI_FLOAT, all.data_ptr<float>(),
                static_cast<int>(mine.numel()), MPI_FLOAT, MPI_COMM_WORLD);
  for (int r = 0; r < world; ++r)
    EXPECT_TRUE(torch::equal(all.narrow(0, r * mine.numel(), mine.numel()).view(mine.sizes()), local[r]))
        << "rank " << r;
}
