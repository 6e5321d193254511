#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/train/schedule.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using namespace psmflow::train;

namespace {
nlohmann::json vectors() { return nlohmann::json::parse(read_file(test::shared_dir() / "testvectors/loss.json")); }
}  // namespace

TEST(Schedule, LearningRateMatchesTestVectors) {
  TrainSection t;  // the defaults are METHOD.md's breakpoints
  auto lr = vectors().at("lr");
  ASSERT_GE(lr.size(), 8u);
  for (auto& [epoch, value] : lr.items()) EXPECT_DOUBLE_EQ(lr_for_epoch(t, std::stoi(epoch)), value.get<double>()) << epoch;
}

TEST(Schedule, ConfigurableBreakpoints) {
  TrainSection t;
  t.lr_epochs = {1, 3};
  t.lr_values = {1.0, 0.5};
  EXPECT_EQ(lr_for_epoch(t, 1), 1.0);
  EXPECT_EQ(lr_for_epoch(t, 2), 1.0);
  EXPECT_EQ(lr_for_epoch(t, 3), 0.5);
  EXPECT_EQ(lr_for_epoch(t, 100), 0.5);
}

TEST(Schedule, CtlDeltaMatchesTestVectors) {
  auto d = vectors().at("ctl_delta");
  ASSERT_GE(d.size(), 8u);
  for (auto& [epoch, value] : d.items()) EXPECT_EQ(ctl_delta(std::stoi(epoch)), value.get<long long>()) << epoch;
}

TEST(Schedule, NeutralWeightConstantOrLinspaceRamp) {
  TrainSection t;
  t.epochs = 5;
  t.neutral_weight = {0.7};
  EXPECT_EQ(neutral_weight_for_epoch(t, 3), 0.7);
  t.neutral_weight = {1.0, 0.0};  // numpy.linspace(1, 0, 5) = 1, .75, .5, .25, 0
  const double expected[] = {1.0, 0.75, 0.5, 0.25, 0.0};
  for (int e = 1; e <= 5; ++e) EXPECT_DOUBLE_EQ(neutral_weight_for_epoch(t, e), expected[e - 1]) << e;
}

TEST(Schedule, RejectsUnusableLists) {
  TrainSection t;
  t.lr_values = {1e-4};
  EXPECT_THROW(check_schedule(t), UsageError);
  t = TrainSection();
  t.lr_epochs = {10, 1, 50, 200};
  EXPECT_THROW(check_schedule(t), UsageError);
  t = TrainSection();
  t.neutral_weight = {};
  EXPECT_THROW(check_schedule(t), UsageError);
  EXPECT_NO_THROW(check_schedule(TrainSection()));
}
