// psmflow train / embed as a user runs them: kill -9 and SIGTERM in the middle of a run, resume,
// embeddings. The runs need the model part's network; without it they skip, saying so.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "psmflow/core/hash.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/embeddings.hpp"
#include "psmflow/train/checkpoint.hpp"
#include "support/test_support.hpp"
#include "train_test_support.hpp"

using namespace psmflow;
using test::shell_quote;

namespace {

constexpr int kFrames = 30;  // every 10th undetected: 27 training frames, 7 steps of 2 pairs

struct RunFiles {
  std::filesystem::path dir, config;
};

RunFiles make_run(const test::ScratchDir& scratch, const std::string& name, int epochs,
                  const std::string& precision = "fp32") {
  RunFiles r{scratch / name, scratch / (name + ".toml")};
  test::write_text(scratch / "video.avi", "placeholder");
  test::write_text(r.config, "[run]\nseed = 3\nthreads = 1\ndevice = \"cpu\"\n"
                             "[[data.subject]]\nid = \"S1\"\ninput = \"video.avi\"\n"
                             "[model]\npreset = \"tiny\"\n"
                             "[train.psm]\nepochs = " + std::to_string(epochs) +
                             "\nbatch = 2\nlr_epochs = [1]\nlr_values = [2e-4]\ncheckpoint_every = 1\nsample_every = 2\n"
                             "precision = \"" + precision + "\"\n");
  test::write_frames_h5(r.dir / "subjects/S1/frames.h5", kFrames, 10);
  return r;
}

std::vector<std::string> train_args(const RunFiles& r) {
  return {"train", "--config", r.config.string(), "--run-dir", r.dir.string(), "--subject", "S1"};
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += shell_quote(a) + " ";
  return s;
}

std::size_t loss_rows(const RunFiles& r) {
  auto rows = test::loss_columns(r.dir / "subjects/S1/psm/losses.csv");
  return rows.empty() ? 0 : rows.size() - 1;
}

// Waits until the child has written `rows` epochs, or fails the test after a minute.
bool wait_rows(test::Child& child, const RunFiles& r, std::size_t rows) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < until) {
    if (loss_rows(r) >= rows) return true;
    if (!child.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Starts `train` on r, stops it with SIGTERM once epoch 1's row is written (exit 3), its log in `log`.
void stop_after_first_epoch(const RunFiles& r, const std::filesystem::path& log) {
  test::Child child(train_args(r), log);
  ASSERT_TRUE(wait_rows(child, r, 1));
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(), 3);
}

// Runs `train` on r with files limited to 64 kB (as a full disk): exit 1, the record failed with
// the OS's reason and `in_error` (the file), no raw LibTorch error, no temporary file left.
void train_on_a_full_disk(const RunFiles& r, const std::string& in_error) {
  auto full = test::run_shell("(trap '' XFSZ; ulimit -f 64; " + shell_quote(test::psmflow_binary().string()) + " " +
                              join(train_args(r)) + ")");
  EXPECT_EQ(full.exit_code, 1) << full.output;
  auto rec = Manifest(RunDir(r.dir)).get("S1", "psm");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, Status::failed);
  EXPECT_NE(rec->error.find("File too large"), std::string::npos) << rec->error;
  EXPECT_NE(rec->error.find(in_error), std::string::npos) << rec->error;
  EXPECT_EQ(full.output.find("c10::Error"), std::string::npos) << full.output;
  for (const auto& e : std::filesystem::recursive_directory_iterator(r.dir))
    EXPECT_FALSE(is_temp_name(e.path())) << e.path();
}

// kill -9 after epoch 2's row (epoch 1's checkpoint exists whatever the kill interrupts), then
// the same command again: it resumes and writes exactly the uninterrupted run's losses.
void kill_and_resume(const RunFiles& b, const std::filesystem::path& log, const std::vector<std::string>& expected) {
  {
    test::Child child(train_args(b), log);
    ASSERT_TRUE(wait_rows(child, b, 2)) << test::run_shell("cat " + shell_quote(log.string())).output;
    child.signal(SIGKILL);
    EXPECT_EQ(child.wait(), 128 + SIGKILL);
  }
  auto again = test::run_psmflow(join(train_args(b)));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resuming from"), std::string::npos) << again.output;
  EXPECT_EQ(test::loss_columns(b.dir / "subjects/S1/psm/losses.csv"), expected);
}

}  // namespace

TEST(TrainCli, KillAndSigtermResumeReproduceTheUninterruptedLosses) {
  test::ScratchDir scratch;
  const int epochs = 4;
  RunFiles a = make_run(scratch, "a", epochs), b = make_run(scratch, "b", epochs), c = make_run(scratch, "c", epochs);
  auto done = test::run_psmflow(join(train_args(a)));
  ASSERT_EQ(done.exit_code, 0) << done.output;
  auto expected = test::loss_columns(a.dir / "subjects/S1/psm/losses.csv");
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(epochs + 1));

  ASSERT_NO_FATAL_FAILURE(kill_and_resume(b, scratch / "b.log", expected));

  {  // SIGTERM: checkpoint at the next step, exit 3, record interrupted
    test::Child child(train_args(c), scratch / "c.log");
    ASSERT_TRUE(wait_rows(child, c, 1));
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(), 3) << test::run_shell("cat " + shell_quote((scratch / "c.log").string())).output;
  }
  auto state = train::read_train_state(c.dir / "subjects/S1/psm/latest.pt");
  ASSERT_TRUE(state);
  EXPECT_LT(state->epoch, epochs);
  Manifest m(RunDir{c.dir});
  auto rec = m.get("S1", "psm");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, Status::interrupted);
  auto resumed = test::run_psmflow(join(train_args(c)));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(test::loss_columns(c.dir / "subjects/S1/psm/losses.csv"), expected);
  EXPECT_EQ(m.get("S1", "psm")->status, Status::done);

  // Tiny preset on a synthetic subject: the loss falls over the epochs.
  auto total = [](const std::string& row) { return std::stod(row.substr(row.find(',') + 1)); };
  EXPECT_LT(total(expected.back()), total(expected[1]));
  for (const char* f : {"final.pt", "latest.pt", "ckpt-e1.pt", "ckpt-e4.pt", "samples/e2.png", "samples/e4.png"})
    EXPECT_TRUE(std::filesystem::exists(a.dir / "subjects/S1/psm" / f)) << f;

  // A finished stage is skipped.
  auto skipped = test::run_psmflow(join(train_args(a)));
  EXPECT_EQ(skipped.exit_code, 0);
  EXPECT_NE(skipped.output.find("already done"), std::string::npos) << skipped.output;

  // Embeddings of every frame (detected or not) with the trained and the untrained network.
  auto args = train_args(a);
  args[0] = "embed";
  auto emb = test::run_psmflow(join(args));
  ASSERT_EQ(emb.exit_code, 0) << emb.output;
  args.push_back("--untrained");
  auto untrained = test::run_psmflow(join(args));
  ASSERT_EQ(untrained.exit_code, 0) << untrained.output;
  auto preset = model::preset_by_name("tiny");
  for (const char* tag : {"psm", "untrained"}) {
    Embeddings e = read_embeddings(a.dir / "subjects/S1/embeddings.h5", tag);
    EXPECT_EQ(e.n, kFrames) << tag;
    EXPECT_EQ(e.code_dim, preset.code_dim);
    EXPECT_EQ(e.feature_dim, preset.feature_dim());
    EXPECT_EQ(e.code.size(), static_cast<std::size_t>(kFrames * preset.code_dim));
    EXPECT_EQ(e.frame_index[kFrames - 1], kFrames - 1);
  }
  EXPECT_NE(read_embeddings(a.dir / "subjects/S1/embeddings.h5", "psm").code,
            read_embeddings(a.dir / "subjects/S1/embeddings.h5", "untrained").code);
  // Each embed record checksums its own file (read above through the embeddings.h5 index).
  for (const auto& [st, file] : {std::pair<std::string, std::string>{"embed", "subjects/S1/embeddings/psm.h5"},
                                 {"embed-untrained", "subjects/S1/embeddings/untrained.h5"}}) {
    auto rec = Manifest(RunDir(a.dir)).get("S1", st);
    ASSERT_TRUE(rec) << st;
    EXPECT_EQ(rec->status, Status::done);
    ASSERT_EQ(rec->outputs.count(file), 1u) << st;
    EXPECT_EQ(rec->outputs.at(file).sha256, sha256_file(a.dir / file));
  }
}

// bf16 mixed precision resumes exactly as fp32 does, and trains a different (rounded) sequence.
TEST(TrainCli, Bf16KillResumeReproducesTheUninterruptedLosses) {
  test::ScratchDir scratch;
  const int epochs = 4;
  RunFiles a = make_run(scratch, "a", epochs, "bf16"), b = make_run(scratch, "b", epochs, "bf16");
  RunFiles f = make_run(scratch, "f", epochs, "fp32");
  auto done = test::run_psmflow(join(train_args(a)));
  ASSERT_EQ(done.exit_code, 0) << done.output;
  auto expected = test::loss_columns(a.dir / "subjects/S1/psm/losses.csv");
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(epochs + 1));
  ASSERT_NO_FATAL_FAILURE(kill_and_resume(b, scratch / "b.log", expected));

  ASSERT_EQ(test::run_psmflow(join(train_args(f))).exit_code, 0);
  auto fp32 = test::loss_columns(f.dir / "subjects/S1/psm/losses.csv");
  auto total = [](const std::string& row) { return std::stod(row.substr(row.find(',') + 1)); };
  ASSERT_EQ(fp32.size(), expected.size());
  EXPECT_NE(fp32[1], expected[1]);  // bf16 did run: its first epoch's losses differ from fp32's
  EXPECT_NEAR(total(expected[1]), total(fp32[1]), 0.03 * total(fp32[1]));
}

TEST(TrainCli, TransferLearningStartsFromAnotherCheckpoint) {
  test::ScratchDir scratch;
  RunFiles a = make_run(scratch, "a", 1), b = make_run(scratch, "b", 1);
  ASSERT_EQ(test::run_psmflow(join(train_args(a))).exit_code, 0);
  auto args = train_args(b);
  args.insert(args.end(), {"--init", (a.dir / "subjects/S1/psm/final.pt").string(), "--tag", "tl-psm"});
  auto r = test::run_psmflow(join(args));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(b.dir / "subjects/S1/tl-psm/final.pt"));
  auto rec = Manifest(RunDir(b.dir)).get("S1", "train-tl-psm");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->details.at("init"), (a.dir / "subjects/S1/psm/final.pt").string());
  // The first epoch starts from trained weights, so its loss is below the scratch run's first epoch.
  auto total = [](const std::string& row) { return std::stod(row.substr(row.find(',') + 1)); };
  EXPECT_LT(total(test::loss_columns(b.dir / "subjects/S1/tl-psm/losses.csv")[1]),
            total(test::loss_columns(a.dir / "subjects/S1/psm/losses.csv")[1]));
}

TEST(TrainCli, MissingFramesAndBadModesAreClearErrors) {
  test::ScratchDir scratch;
  auto r = test::run_psmflow("train --subject S9 --run-dir " + shell_quote((scratch / "run").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("frames.h5"), std::string::npos) << r.output;
  r = test::run_psmflow("train --subject S9 --mode bogus --run-dir " + shell_quote((scratch / "run").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = test::run_psmflow("embed --subject S9 --run-dir " + shell_quote((scratch / "run").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("final.pt"), std::string::npos) << r.output;
}

// --epochs, --batch, --lr and --seed override the config: a run from a config that says one
// thing plus the four flags matches, loss for loss, a run from a config that says what the flags say.
TEST(TrainCli, SeedEpochsBatchLrFlagsOverrideTheConfig) {
  test::ScratchDir scratch;
  RunFiles flags = make_run(scratch, "flags", 1), config = make_run(scratch, "config", 1);
  std::string text = read_file(config.config);
  for (auto [from, to] : {std::pair{"seed = 3", "seed = 5"}, {"epochs = 1", "epochs = 2"}, {"batch = 2", "batch = 3"},
                          {"lr_values = [2e-4]", "lr_values = [1e-3]"}})
    text.replace(text.find(from), std::string(from).size(), to);
  test::write_text(config.config, text);

  auto args = train_args(flags);
  for (const char* a : {"--epochs", "2", "--batch", "3", "--lr", "1e-3", "--seed", "5"}) args.push_back(a);
  auto by_flags = test::run_psmflow(join(args));
  ASSERT_EQ(by_flags.exit_code, 0) << by_flags.output;
  auto by_config = test::run_psmflow(join(train_args(config)));
  ASSERT_EQ(by_config.exit_code, 0) << by_config.output;

  auto rows = test::loss_columns(flags.dir / "subjects/S1/psm/losses.csv");
  ASSERT_EQ(rows.size(), 3u);  // header + the 2 epochs --epochs asked for
  EXPECT_NE(rows[1].find(",0.001,"), std::string::npos) << rows[1];  // the lr column
  EXPECT_EQ(rows, test::loss_columns(config.dir / "subjects/S1/psm/losses.csv"));
}

// Issue 16 defect 6: the checkpoint write fails (file size limit, as a full disk): exit 1, the
// record says failed with the file and the OS's reason (not `running`, no abort), no temporary
// file stays, and the rerun with room trains to the end.
TEST(TrainCli, FailedCheckpointWriteIsARecordedFailure) {
  test::ScratchDir scratch;
  RunFiles r = make_run(scratch, "r", 2);
  ASSERT_NO_FATAL_FAILURE(train_on_a_full_disk(r, "subjects/S1/psm/"));
  auto again = test::run_psmflow(join(train_args(r)));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Manifest(RunDir(r.dir)).get("S1", "psm")->status, Status::done);
}

// Issue 16: the disk fills after a good checkpoint. The failed write is recorded with the OS's
// reason, the earlier checkpoint survives intact, and the rerun with room resumes from it.
TEST(TrainCli, DiskFullAfterAGoodCheckpointResumesFromIt) {
  test::ScratchDir scratch;
  RunFiles r = make_run(scratch, "r", 3);
  ASSERT_NO_FATAL_FAILURE(stop_after_first_epoch(r, scratch / "r.log"));
  const auto latest = r.dir / "subjects/S1/psm/latest.pt";
  ASSERT_FALSE(train::checkpoint_damage(latest));
  const std::size_t rows_before = loss_rows(r);
  ASSERT_NO_FATAL_FAILURE(train_on_a_full_disk(r, ".pt"));
  EXPECT_FALSE(train::checkpoint_damage(latest)) << "the good checkpoint was damaged by the failed write";
  auto again = test::run_psmflow(join(train_args(r)));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resuming from " + latest.string()), std::string::npos) << again.output;
  EXPECT_EQ(Manifest(RunDir(r.dir)).get("S1", "psm")->status, Status::done);
  EXPECT_GE(rows_before, 1u);
  EXPECT_EQ(loss_rows(r), 3u);
}

// Issue 16 defects 1 and 3 as a user meets them: SIGTERM, 4 KiB of garbage in the middle of
// latest.pt, rerun: the damage is named, training resumes from ckpt-e1.pt and ends done; a
// SIGTERM is a warning, not an error, while the record says interrupted.
TEST(TrainCli, CorruptLatestIsNamedAndTheEpochCheckpointResumed) {
  test::ScratchDir scratch;
  RunFiles r = make_run(scratch, "r", 3);
  ASSERT_NO_FATAL_FAILURE(stop_after_first_epoch(r, scratch / "r.log"));
  const std::string log = test::run_shell("cat " + shell_quote((scratch / "r.log").string())).output;
  EXPECT_EQ(log.find(" E] "), std::string::npos) << log;  // "[12:00:00 E] ..." is an error line
  EXPECT_NE(log.find(" W] S1 psm: interrupted by signal 15"), std::string::npos) << log;
  EXPECT_EQ(Manifest(RunDir(r.dir)).get("S1", "psm")->status, Status::interrupted);
  const auto latest = r.dir / "subjects/S1/psm/latest.pt";
  const auto size = std::filesystem::file_size(latest);
  auto dd = test::run_shell("dd if=/dev/urandom of=" + shell_quote(latest.string()) + " bs=1 seek=" +
                            std::to_string(size / 2) + " count=4096 conv=notrunc 2>&1");
  ASSERT_EQ(dd.exit_code, 0) << dd.output;
  auto again = test::run_psmflow(join(train_args(r)));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find(latest.string() + ": damaged checkpoint: checksum mismatch"), std::string::npos)
      << again.output;
  EXPECT_NE(again.output.find("resuming from " + (r.dir / "subjects/S1/psm/ckpt-e").string()), std::string::npos)
      << again.output;
  EXPECT_EQ(Manifest(RunDir(r.dir)).get("S1", "psm")->status, Status::done);
  EXPECT_EQ(loss_rows(r), 3u);
  EXPECT_FALSE(train::checkpoint_damage(r.dir / "subjects/S1/psm/final.pt"));
}
