// Data-parallel GM training through the real binary: `mpirun -n 2 psmflow train --mode gm` on two
// small synthetic subjects; a rank killed mid-training ends the job (no hang) and the rerun
// resumes from rank 0's checkpoint.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "support/cohort.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/frames.hpp"

using namespace psmflow;
using namespace psmflow::test;

namespace {

// frames.h5 of `n` random-ish 64x64 frames and a done preprocess record, as preprocess leaves them.
void fake_preprocessed(const Config& cfg, const std::string& id, int n, unsigned seed) {
  RunDir run(cfg.run.run_dir);
  fs::create_directories(run.subject_dir(id));
  {
    FramesMeta meta;
    meta.subject = id;
    meta.crop_size = 64;
    FramesWriter w(run.frames(id), meta);
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> rgb(64 * 64 * 3);
    for (int i = 0; i < n; ++i) {
      for (auto& v : rgb) v = static_cast<std::uint8_t>(rng() % 256);
      w.append(rgb.data(), i, i / 20.0, {0, 0, 64, 64}, true);
    }
    w.close();
  }
  Manifest m(run);
  Record r = m.begin(id, stage::preprocess, "test-input", psmflow::pipeline::config_hash(cfg, stage::preprocess));
  m.finish_done(r, {run.frames(id)});
}

}  // namespace

TEST(GmCli, KilledRankEndsTheJobAndTheRerunResumesFromTheCheckpoint) {
  ScratchDir dir;
  fs::path cfg_file = make_cohort(dir.path(), 2,
                                  "[model]\npreset = \"tiny\"\n[train.gm]\nmode = \"gm\"\nepochs = 3\nbatch = 2\n"
                                  "lr_epochs = [1]\nlr_values = [1e-4]\ncheckpoint_every = 1\nsample_every = 0\n"
                                  "augment = false\n");
  Config cfg = load_config(cfg_file);
  RunDir::create(cfg);
  fake_preprocessed(cfg, "S01", 12, 1);
  fake_preprocessed(cfg, "S02", 12, 2);
  std::string cmd = "timeout 300 mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 " +
                    shell_quote(psmflow_binary().string()) + " train --mode gm --config " +
                    shell_quote(cfg_file.string());
  auto first = run_shell("PSMFLOW_TEST_GM_KILL=1:3 " + cmd);
  EXPECT_NE(first.exit_code, 0) << first.output;
  EXPECT_NE(first.exit_code, 124) << "the job hung after a rank died:\n" << first.output;
  RunDir run(cfg.run.run_dir);
  EXPECT_TRUE(fs::exists(run.gm_dir() / "latest.pt")) << first.output;
  EXPECT_FALSE(fs::exists(run.gm_dir() / "final.pt"));

  auto second = run_shell(cmd);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resuming from"), std::string::npos) << second.output;
  EXPECT_EQ(second.output.find("epoch 1/3"), std::string::npos) << "epochs before the checkpoint ran again";
  auto rec = Manifest(run).get(kRunScope, stage::gm);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, Status::done);
  EXPECT_EQ(rec->details["subjects"], "S01,S02");
  EXPECT_EQ(rec->details["ranks"], "2");
  EXPECT_TRUE(fs::exists(run.gm_dir() / "final.pt"));

  // `psmflow run --stage gm` reaches the same training in-process and finds it done.
  auto again = run_shell("timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 " +
                         shell_quote(psmflow_binary().string()) + " run --stage gm " + shell_quote(cfg_file.string()));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("GM: already done over these 2 subjects"), std::string::npos) << again.output;
}

TEST(GmCli, WatchdogEndsAJobWhosePeerIsStuck) {
  auto start = std::chrono::steady_clock::now();
  auto r = run_shell("timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 " +
                     shell_quote(PSMFLOW_WATCHDOG_PROBE));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "the job hung:\n" << r.output;
  EXPECT_LT(s, 60) << r.output;
  EXPECT_NE(r.output.find("MPI_Iallreduce of loss sums did not finish within 2 s"), std::string::npos) << r.output;
}
