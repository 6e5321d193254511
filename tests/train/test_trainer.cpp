// The training loop with a stand-in network (the real one is tested through the binary).
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include "psmflow/core/error.hpp"
#include "psmflow/train/checkpoint.hpp"
#include "psmflow/train/schedule.hpp"
#include "psmflow/train/stop.hpp"
#include "psmflow/train/trainer.hpp"
#include "support/test_support.hpp"
#include "train_test_support.hpp"

using namespace psmflow;
using namespace psmflow::train;

namespace {

TrainOptions options(const std::filesystem::path& dir) {
  TrainOptions o;
  o.section.epochs = 3;
  o.section.batch = 2;
  o.section.lr_epochs = {1, 3};
  o.section.lr_values = {1e-2, 5e-3};
  o.section.neutral_weight = {1.0, 0.5};
  o.section.checkpoint_every = 2;
  o.section.sample_every = 2;
  o.seed = 7;
  o.config_hash = "hash-1";
  o.out_dir = dir;
  o.label = "test";
  return o;
}

struct Fixture : ::testing::Test {
  void SetUp() override {
    torch::set_num_threads(1);
    clear_stop();
  }
  void TearDown() override { clear_stop(); }
  MemoryFrames frames = test::synthetic_frames(12);  // 6 pairs a epoch: 3 steps of 2
  PsmSampler sampler{12, 7};
};

std::unique_ptr<test::StandInNet> fresh_net() {
  torch::manual_seed(1);
  return std::make_unique<test::StandInNet>();
}

}  // namespace

using TrainerTest = Fixture;

TEST_F(TrainerTest, WritesCheckpointsLossesAndSamples) {
  test::ScratchDir dir;
  auto net = fresh_net();
  Trainer t(*net, frames, sampler, options(dir.path()));
  TrainResult r = t.run();
  EXPECT_FALSE(r.interrupted);
  EXPECT_EQ(r.epochs_done, 3);
  EXPECT_EQ(net->calls, 9);
  for (const char* f : {"latest.pt", "final.pt", "ckpt-e2.pt", "losses.csv", "samples/e2.png", "samples/e3.png"})
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  EXPECT_FALSE(std::filesystem::exists(dir / "ckpt-e1.pt"));
  auto rows = test::loss_columns(dir / "losses.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "epoch,total,pixel,perc,ssim,sym,lr,neutral_weight");
  EXPECT_EQ(rows[1].substr(0, 2), "1,");
  EXPECT_NE(rows[1].find(",0.01,1"), std::string::npos) << rows[1];     // lr 1e-2, weight linspace(1, .5, 3)[0]
  EXPECT_NE(rows[3].find(",0.005,0.5"), std::string::npos) << rows[3];  // lr from epoch 3, last weight
  auto state = read_train_state(dir / "final.pt");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->epoch, 3);
  EXPECT_EQ(state->config_hash, "hash-1");

  // Same configuration again: nothing to train.
  auto again = fresh_net();
  TrainResult r2 = Trainer(*again, frames, sampler, options(dir.path())).run();
  EXPECT_TRUE(r2.already_done);
  EXPECT_EQ(again->calls, 0);
}

TEST_F(TrainerTest, StopMidEpochThenResumeReproducesTheUninterruptedRun) {
  test::ScratchDir a, b;
  auto net_a = fresh_net();
  Trainer(*net_a, frames, sampler, options(a.path())).run();

  auto net_b = fresh_net();
  net_b->stop_after_calls = 5;  // epoch 2, after step 2 of 3
  TrainResult stopped = Trainer(*net_b, frames, sampler, options(b.path())).run();
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.epochs_done, 1);
  EXPECT_FALSE(std::filesystem::exists(b / "final.pt"));
  auto state = read_train_state(b / "latest.pt");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->epoch, 1);
  EXPECT_EQ(state->step, 2);
  EXPECT_EQ(stop_signal(), SIGTERM);

  clear_stop();
  auto net_c = fresh_net();  // a new process: fresh weights, overwritten by the checkpoint
  TrainResult resumed = Trainer(*net_c, frames, sampler, options(b.path())).run();
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(net_c->calls, 4);  // the last step of epoch 2 and epoch 3
  EXPECT_EQ(test::loss_columns(a / "losses.csv"), test::loss_columns(b / "losses.csv"));
  for (std::size_t i = 0; i < net_a->trainable_parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(net_a->trainable_parameters()[i], net_c->trainable_parameters()[i])) << i;
}

TEST_F(TrainerTest, ResumeDropsRowsWrittenAfterTheCheckpoint) {
  test::ScratchDir a, b;
  auto net_a = fresh_net();
  Trainer(*net_a, frames, sampler, options(a.path())).run();
  auto net_b = fresh_net();
  net_b->stop_after_calls = 6;  // the last step of epoch 2: checkpoint at the epoch boundary
  TrainResult stopped = Trainer(*net_b, frames, sampler, options(b.path())).run();
  ASSERT_TRUE(stopped.interrupted);
  EXPECT_EQ(read_train_state(b / "latest.pt")->step, 0);
  // As if killed after writing epoch 3's row but before its checkpoint.
  std::ofstream(b / "losses.csv", std::ios::app) << "3,9,9,9,9,9,9,9,9,9\n";
  clear_stop();
  auto net_c = fresh_net();
  Trainer(*net_c, frames, sampler, options(b.path())).run();
  EXPECT_EQ(test::loss_columns(a / "losses.csv"), test::loss_columns(b / "losses.csv"));
}

TEST_F(TrainerTest, AnotherConfigurationStartsOver) {
  test::ScratchDir dir;
  auto net = fresh_net();
  Trainer(*net, frames, sampler, options(dir.path())).run();
  auto opt = options(dir.path());
  opt.config_hash = "hash-2";
  opt.section.epochs = 2;
  auto net2 = fresh_net();
  TrainResult r = Trainer(*net2, frames, sampler, opt).run();
  EXPECT_FALSE(r.already_done);
  EXPECT_EQ(net2->calls, 6);
  EXPECT_EQ(test::loss_columns(dir / "losses.csv").size(), 3u);
}

TEST_F(TrainerTest, LossFallsOnTheStandIn) {
  test::ScratchDir dir;
  auto net = fresh_net();
  auto opt = options(dir.path());
  opt.section.epochs = 8;
  opt.section.augment = false;
  Trainer(*net, frames, sampler, opt).run();
  auto rows = test::loss_columns(dir / "losses.csv");
  auto total = [](const std::string& row) { return std::stod(row.substr(row.find(',') + 1)); };
  EXPECT_LT(total(rows.back()), 0.8 * total(rows[1]));
}

namespace {

// Overwrites `count` bytes in the middle of the file, as `dd conv=notrunc` does.
void scribble(const std::filesystem::path& file, std::size_t count) {
  const auto size = std::filesystem::file_size(file);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2));
  for (std::size_t i = 0; i < count; ++i) f.put(static_cast<char>(i * 131 + 7));
}

}  // namespace

// Issue 16 defects 1 and 3: a damaged latest.pt is named and the newest good epoch checkpoint
// is resumed from; the run then ends as the uninterrupted one does.
TEST_F(TrainerTest, DamagedLatestResumesFromTheNewestGoodEpochCheckpoint) {
  test::ScratchDir a, b;
  auto opt = options(a.path());
  opt.section.epochs = 4;
  auto net_a = fresh_net();
  Trainer(*net_a, frames, sampler, opt).run();

  auto net_b = fresh_net();
  net_b->stop_after_calls = 11;  // epoch 4, step 2: latest.pt mid-epoch, ckpt-e2.pt before it
  opt.out_dir = b.path();
  ASSERT_TRUE(Trainer(*net_b, frames, sampler, opt).run().interrupted);
  scribble(b / "latest.pt", 4096);
  ASSERT_TRUE(checkpoint_damage(b / "latest.pt"));
  clear_stop();
  auto net_c = fresh_net();
  TrainResult resumed = Trainer(*net_c, frames, sampler, opt).run();
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(net_c->calls, 6);  // epochs 3 and 4 again, from ckpt-e2.pt
  EXPECT_EQ(test::loss_columns(a / "losses.csv"), test::loss_columns(b / "losses.csv"));
  for (std::size_t i = 0; i < net_a->trainable_parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(net_a->trainable_parameters()[i], net_c->trainable_parameters()[i])) << i;
}

TEST_F(TrainerTest, TruncatedLatestWithoutEpochCheckpointStartsOver) {
  test::ScratchDir dir;
  auto net = fresh_net();
  net->stop_after_calls = 2;  // epoch 1, before any epoch checkpoint
  ASSERT_TRUE(Trainer(*net, frames, sampler, options(dir.path())).run().interrupted);
  std::filesystem::resize_file(dir / "latest.pt", std::filesystem::file_size(dir / "latest.pt") / 2);
  clear_stop();
  auto again = fresh_net();
  TrainResult r = Trainer(*again, frames, sampler, options(dir.path())).run();
  EXPECT_EQ(r.epochs_done, 3);
  EXPECT_EQ(again->calls, 9);  // all three epochs
  EXPECT_FALSE(checkpoint_damage(dir / "latest.pt"));
}

// Issue 16 defect 1: a NaN loss stops training with an error; the checkpoints on disk are the
// good ones from before it and no final.pt is written.
TEST_F(TrainerTest, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  test::ScratchDir dir;
  auto net = fresh_net();
  net->nan_at_call = 8;  // epoch 3; ckpt-e2.pt and latest.pt hold epoch 2
  Trainer t(*net, frames, sampler, options(dir.path()));
  try {
    t.run();
    FAIL() << "a NaN loss did not stop training";
  } catch (const StageError& e) {
    EXPECT_NE(std::string(e.what()).find("loss is nan at epoch 3 step 2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "final.pt"));
  auto state = read_train_state(dir / "latest.pt");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->epoch, 2);
  auto resumed = fresh_net();
  Trainer(*resumed, frames, sampler, options(dir.path())).run();
  for (const auto& p : resumed->trainable_parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}
