#include <gtest/gtest.h>

#include <functional>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/train/checkpoint.hpp"
#include "support/test_support.hpp"
#include "train_test_support.hpp"

using namespace psmflow;
using namespace psmflow::train;

TEST(Checkpoint, RoundTripsModelOptimiserStateAndGenerator) {
  test::ScratchDir dir;
  torch::manual_seed(4);
  test::StandInNet a;
  torch::optim::Adam opt(a.trainable_parameters(), torch::optim::AdamOptions(1e-3).betas({0.5, 0.999}));
  auto x = torch::randn({2, 3, 64, 64});
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    a.loss(x, x, 1.0).total.backward();
    opt.step();
  }
  TrainState s;
  s.epoch = 3;
  s.step = 2;
  s.seed = 18446744073709551615ULL;
  s.config_hash = "abc";
  s.sampler = "psm n=10";
  s.partial_sums = {1.5, 0.25, 0, 3, 4};
  s.partial_seconds = 2.5;
  save_checkpoint(dir / "c.pt", a.module(), &opt, s);
  const double next_random = torch::rand({1}).item<double>();

  torch::manual_seed(99);
  test::StandInNet b;
  torch::optim::Adam opt_b(b.trainable_parameters(), torch::optim::AdamOptions(1e-3).betas({0.5, 0.999}));
  TrainState r = load_checkpoint(dir / "c.pt", b.module(), &opt_b);
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.step, 2);
  EXPECT_EQ(r.seed, s.seed);
  EXPECT_EQ(r.config_hash, "abc");
  EXPECT_EQ(r.sampler, "psm n=10");
  EXPECT_EQ(r.partial_sums, s.partial_sums);
  EXPECT_EQ(r.partial_seconds, 2.5);
  for (std::size_t i = 0; i < a.trainable_parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(a.trainable_parameters()[i], b.trainable_parameters()[i]));
  restore_generator(r);
  EXPECT_EQ(torch::rand({1}).item<double>(), next_random);
  // The optimiser continues identically: one more step on both gives equal parameters.
  for (auto* o : {&opt, &opt_b}) o->zero_grad();
  torch::manual_seed(5);
  a.loss(x, x, 1.0).total.backward();
  torch::manual_seed(5);
  b.loss(x, x, 1.0).total.backward();
  opt.step();
  opt_b.step();
  for (std::size_t i = 0; i < a.trainable_parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(a.trainable_parameters()[i], b.trainable_parameters()[i]));
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) EXPECT_FALSE(is_temp_name(e.path()));
}

TEST(Checkpoint, ForeignFilesAreRecognised) {
  test::ScratchDir dir;
  test::write_text(dir / "junk.pt", "not a checkpoint");
  EXPECT_FALSE(is_psmflow_checkpoint(dir / "junk.pt"));
  EXPECT_FALSE(read_train_state(dir / "junk.pt").has_value());
  EXPECT_FALSE(read_train_state(dir / "missing.pt").has_value());
  test::StandInNet net;
  EXPECT_THROW(load_checkpoint(dir / "junk.pt", net.module(), nullptr), std::exception);
  save_checkpoint(dir / "model.pt", net.module(), nullptr, TrainState());
  EXPECT_TRUE(is_psmflow_checkpoint(dir / "model.pt"));
  torch::optim::Adam opt(net.trainable_parameters());
  EXPECT_THROW(load_checkpoint(dir / "model.pt", net.module(), &opt), std::exception);  // no optimiser inside
}

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StageError& e) {
    return e.what();
  }
  return "(no StageError)";
}

}  // namespace

TEST(Checkpoint, CorruptAndTruncatedFilesAreRefusedNamingTheFile) {
  test::ScratchDir dir;
  test::StandInNet net;
  save_checkpoint(dir / "c.pt", net.module(), nullptr, TrainState());
  EXPECT_FALSE(checkpoint_damage(dir / "c.pt"));
  const std::string good = read_file(dir / "c.pt");

  std::string corrupt = good;
  for (std::size_t i = 0; i < 64; ++i) corrupt[corrupt.size() / 2 + i] ^= 0x5a;
  write_file_atomic(dir / "c.pt", corrupt);
  auto damage = checkpoint_damage(dir / "c.pt");
  ASSERT_TRUE(damage);
  EXPECT_NE(damage->find((dir / "c.pt").string()), std::string::npos) << *damage;
  EXPECT_NE(damage->find("checksum mismatch"), std::string::npos) << *damage;
  EXPECT_FALSE(read_train_state(dir / "c.pt"));
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "c.pt", net.module(), nullptr); }).find("checksum mismatch"),
            std::string::npos);

  write_file_atomic(dir / "c.pt", good.substr(0, good.size() / 2));
  damage = checkpoint_damage(dir / "c.pt");
  ASSERT_TRUE(damage);
  EXPECT_NE(damage->find("truncated"), std::string::npos) << *damage;
  EXPECT_NE(error_of([&] { load_checkpoint(dir / "c.pt", net.module(), nullptr); }).find("truncated"),
            std::string::npos);
}

// Issue 16 defect 6: a checkpoint write that fails (here: the file size limit of
// `trap '' XFSZ; ulimit -f`) is an error naming the file and the OS's reason; the earlier
// checkpoint of that name survives and no temporary file is left.
TEST(Checkpoint, FailedWriteNamesTheFileAndReasonAndKeepsTheEarlierFile) {
  test::ScratchDir dir;
  test::StandInNet net;
  torch::optim::Adam opt(net.trainable_parameters());
  save_checkpoint(dir / "latest.pt", net.module(), &opt, TrainState());
  const std::string before = read_file(dir / "latest.pt");
  ASSERT_GT(before.size(), 4096u);

  TrainState later;
  later.epoch = 5;
  std::string error;
  {
    test::FileSizeLimit limit(4096);
    error = error_of([&] { save_checkpoint(dir / "latest.pt", net.module(), &opt, later); });
  }

  EXPECT_NE(error.find((dir / "latest.pt").string()), std::string::npos) << error;
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_EQ(read_file(dir / "latest.pt"), before);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) EXPECT_FALSE(is_temp_name(e.path())) << e.path();
}

// Issue 16 defect 11: a tensor of the wrong shape is reported as such (LibTorch's own load
// would take it silently and fail later in the forward pass).
TEST(Checkpoint, WrongShapeTensorIsReportedAsSuch) {
  test::ScratchDir dir;
  torch::nn::Linear small(3, 4), wide(3, 5);
  save_checkpoint(dir / "small.pt", *small, nullptr, TrainState());
  const std::string error = error_of([&] { load_checkpoint(dir / "small.pt", *wide, nullptr); });
  EXPECT_NE(error.find((dir / "small.pt").string() + ": tensor 'weight' has shape [4, 3], this network expects [5, 3]"),
            std::string::npos)
      << error;
}
