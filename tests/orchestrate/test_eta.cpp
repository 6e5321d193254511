// The ETA of `psmflow run`'s progress line moves with the running subjects' training epochs.
#include <gtest/gtest.h>

#include <string>

#include "psmflow/orchestrate/eta.hpp"
#include "support/test_support.hpp"

using namespace psmflow;

namespace {

void write_epochs(const RunDir& run, const std::string& id, int rows) {
  std::string text = "epoch,total,pixel,perc,ssim,sym,lr,neutral_weight,seconds,images_per_s\n";
  for (int e = 1; e <= rows; ++e) text += std::to_string(e) + ",1,1,0,1,0,0.0002,1,1,1\n";
  test::write_text(run.psm_dir(id) / "losses.csv", text);
}

}  // namespace

TEST(Eta, NothingDoneYetGivesNoEstimate) {
  EXPECT_FALSE(eta_seconds(30, 0, 4).has_value());
  EXPECT_FALSE(eta_seconds(0, 1, 4).has_value());
  EXPECT_DOUBLE_EQ(*eta_seconds(30, 1, 3), 90);
  EXPECT_DOUBLE_EQ(*eta_seconds(30, 2, -0.5), 0);
}

TEST(Eta, TextHasHoursOnlyWhenNeeded) {
  EXPECT_EQ(eta_text(203), "3:23");
  EXPECT_EQ(eta_text(59.6), "1:00");
  EXPECT_EQ(eta_text(3723), "1:02:03");
}

TEST(Eta, MovesWithTheRunningSubjectsEpochsBeforeAnySubjectFinishes) {
  test::ScratchDir dir;
  RunDir run(dir.path());
  PhaseEta eta(run, 10);
  eta.started("S1");
  eta.started("S2");
  EXPECT_FALSE(eta.seconds_left(60, 2).has_value()) << "no epoch written yet";
  write_epochs(run, "S1", 5);
  write_epochs(run, "S2", 5);
  EXPECT_DOUBLE_EQ(*eta.seconds_left(60, 2), 60);  // half of both in 60 s: the other halves take 60 s
  write_epochs(run, "S1", 8);
  write_epochs(run, "S2", 8);
  EXPECT_NEAR(*eta.seconds_left(90, 2), 22.5, 1e-9);  // 1.6 subjects in 90 s, 0.4 left
}

TEST(Eta, FinishedSubjectsAndQueuedOnesCountWhole) {
  test::ScratchDir dir;
  RunDir run(dir.path());
  PhaseEta eta(run, 4);
  eta.started("S1");
  eta.started("S2");
  write_epochs(run, "S1", 4);
  eta.finished("S1");
  write_epochs(run, "S2", 2);  // S2 halfway, S3 and S4 queued: 2.5 left after 1.5 in 30 s
  EXPECT_DOUBLE_EQ(*eta.seconds_left(30, 3), 50);
  write_epochs(run, "S2", 9);  // more rows than epochs (a resumed longer run) count as done, not more
  EXPECT_DOUBLE_EQ(*eta.seconds_left(30, 3), 30);
}

TEST(Eta, PhaseWithoutTrainingCountsFinishedSubjectsOnly) {
  test::ScratchDir dir;
  RunDir run(dir.path());
  PhaseEta eta(run, 0);
  eta.started("S1");
  write_epochs(run, "S1", 3);
  EXPECT_FALSE(eta.seconds_left(10, 2).has_value());
  eta.finished("S1");
  EXPECT_DOUBLE_EQ(*eta.seconds_left(10, 1), 10);
}
