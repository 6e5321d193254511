#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/manifest.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using psmflow::test::ScratchDir;
using psmflow::test::write_text;

namespace {
struct Fixture : ::testing::Test {
  ScratchDir dir;
  RunDir run{dir / "run"};
  Manifest m{run};
  void SetUp() override { fs::create_directories(run.manifest_dir()); }
};
}  // namespace

TEST_F(Fixture, BeginWritesRunningThenDoneWithChecksums) {
  fs::path out = run.frames("S1");
  Record r = m.begin("S1", stage::preprocess, "in1", "cfg1");
  EXPECT_EQ(m.get("S1", stage::preprocess)->status, Status::running);
  EXPECT_EQ(r.attempt, 1);
  write_text(out, "frames");
  m.finish_done(r, {out}, {{"frames", "6"}});
  auto got = m.get("S1", stage::preprocess);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Status::done);
  EXPECT_EQ(got->outputs.at("subjects/S1/frames.h5").size, 6u);
  EXPECT_EQ(got->details.at("frames"), "6");
  EXPECT_FALSE(got->host.empty());
  EXPECT_TRUE(m.is_done("S1", stage::preprocess, "in1", "cfg1"));
}

TEST_F(Fixture, ChangedHashesOrDamagedOutputsAreNotDone) {
  fs::path out = run.frames("S1");
  write_text(out, "frames");
  Record r = m.begin("S1", stage::preprocess, "in1", "cfg1");
  m.finish_done(r, {out});
  EXPECT_FALSE(m.is_done("S1", stage::preprocess, "in2", "cfg1"));
  EXPECT_FALSE(m.is_done("S1", stage::preprocess, "in1", "cfg2"));
  write_text(out, "frameX");  // same size, other bytes: its mtime moved, so it is hashed again
  EXPECT_FALSE(m.is_done("S1", stage::preprocess, "in1", "cfg1"));
  write_text(out, "frames");  // rewritten with the same bytes: hashed, intact
  EXPECT_TRUE(m.is_done("S1", stage::preprocess, "in1", "cfg1"));
  EXPECT_TRUE(m.is_done("S1", stage::preprocess, "in1", "cfg1", /*verify=*/true));
  fs::remove(out);
  EXPECT_FALSE(m.is_done("S1", stage::preprocess, "in1", "cfg1"));
}

// A running record keeps a block's worth of room, so that its failure fits over it on a full disk.
TEST_F(Fixture, ARunningRecordLeavesRoomForItsFailure) {
  Record r = m.begin("S01", "psm", "in", "cfg");
  const fs::path file = run.manifest_dir() / "S01" / "psm.json";
  EXPECT_GE(fs::file_size(file), 4096u);
  auto j = nlohmann::json::parse(read_file(file));
  EXPECT_EQ(j.value("attempt", 0), r.attempt);
  j["status"] = "failed";
  j["error"] = std::string(1500, 'e');
  overwrite_in_place(file, j.dump(2));
  auto back = m.get("S01", "psm");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, Status::failed);
  EXPECT_EQ(back->error, std::string(1500, 'e'));
}

TEST_F(Fixture, SecondAttemptCountsUpAndFailureKeepsTheError) {
  Record r = m.begin("S1", stage::psm, "i", "c");
  m.finish_failed(r, "frames.h5: no face found");
  Record r2 = m.begin("S1", stage::psm, "i", "c");
  EXPECT_EQ(r2.attempt, 2);
  m.finish_failed(r2, "killed", Status::interrupted);
  auto got = m.get("S1", stage::psm);
  EXPECT_EQ(got->status, Status::interrupted);
  EXPECT_EQ(got->error, "killed");
}

TEST_F(Fixture, RunningRecordOfADeadProcessReadsAsInterrupted) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  Record r = m.begin("S1", stage::psm, "i", "c");
  r.pid = child;  // that process is gone
  m.put(r);
  EXPECT_EQ(m.effective_status(*m.get("S1", stage::psm)), Status::interrupted);
  r.pid = ::getpid();
  m.put(r);
  EXPECT_EQ(m.effective_status(*m.get("S1", stage::psm)), Status::running);
}

// A crash between writing the temporary record and renaming it must leave the old record intact
// and the half-written temporary ignored.
TEST_F(Fixture, CrashBetweenWriteAndRenameLeavesTheOldRecord) {
  Record r = m.begin("S1", stage::psm, "i", "c");
  fs::path out = run.psm_dir("S1") / "model.pt";
  write_text(out, "w");
  m.finish_done(r, {out});
  pid_t child = ::fork();
  if (child == 0) {
    AtomicPath p(run.manifest_dir() / "S1" / "psm.json");
    write_text(p.temp(), "{\"subject\": \"S1\", \"stage\": \"psm\", \"status\": \"fail");  // half a record
    ::_exit(0);  // crash: no commit, no destructor
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  bool temp_left = false;
  for (const auto& f : fs::directory_iterator(run.manifest_dir() / "S1")) temp_left |= is_temp_name(f.path());
  EXPECT_TRUE(temp_left);
  EXPECT_TRUE(m.is_done("S1", stage::psm, "i", "c"));
  auto all = m.all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, Status::done);
}

TEST_F(Fixture, RunStageSkipsDoneWorkAndRecordsFailures) {
  int calls = 0;
  fs::path out = run.subject_dir("S1") / "x.txt";
  auto work = [&] {
    ++calls;
    write_text(out, "x");
    return StageResult{{out}, {}};
  };
  EXPECT_EQ(run_stage(m, "S1", "embed", "i", "c", work), StageOutcome::done);
  EXPECT_EQ(run_stage(m, "S1", "embed", "i", "c", work), StageOutcome::skipped);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(run_stage(m, "S1", "embed", "i2", "c", work), StageOutcome::done);
  EXPECT_EQ(calls, 2);
  auto failing = []() -> StageResult { throw StageError("video.avi: zero bytes"); };
  EXPECT_EQ(run_stage(m, "S2", "embed", "i", "c", failing), StageOutcome::failed);
  EXPECT_EQ(m.get("S2", "embed")->error, "video.avi: zero bytes");
  EXPECT_EQ(m.get("S2", "embed")->status, Status::failed);
}

TEST_F(Fixture, UnsafeNamesNeverBecomePaths) {
  EXPECT_THROW(m.get("../x", "psm"), UsageError);
  EXPECT_THROW(m.get("S1", "../../etc"), UsageError);
  EXPECT_NO_THROW(m.get(kRunScope, stage::gm));
}

TEST(RunDir, FreezesTheConfigAndKeepsTheOldOneWhenItChanges) {
  ScratchDir dir;
  write_text(dir / "a.avi", "x");
  std::string text = "[run]\nrun_dir = \"r\"\n[[data.subject]]\nid = \"A\"\ninput = \"a.avi\"\n";
  Config c1 = parse_config(text, dir / "c.toml");
  RunDir run = RunDir::create(c1);
  EXPECT_EQ(read_file(run.config_file()), text);
  EXPECT_EQ(read_file(run.root() / "config.sha256"), c1.hash);
  Config c2 = parse_config(text + "[eval]\nfolds = 4\n", dir / "c.toml");
  RunDir::create(c2);
  EXPECT_EQ(read_file(run.config_file()), c2.text);
  EXPECT_TRUE(fs::exists(run.root() / ("config." + c1.hash.substr(0, 8) + ".toml")));
  EXPECT_THROW(run.subject_dir("a/b"), UsageError);
}

// Issue 16: the disk fills while a stage writes its output (eval.json here): run_stage records
// the failure with the OS's reason and the path; a manifest record that cannot be written is an
// error naming it, and the record before it stays.
TEST_F(Fixture, FailedOutputWriteIsRecordedWithTheReasonAndPath) {
  const fs::path out = run.eval_json("S1");
  StageOutcome outcome;
  {
    psmflow::test::FileSizeLimit limit(4096);
    outcome = run_stage(m, "S1", stage::evaluate, "in", "cfg", [&] {
      write_file_atomic(out, std::string(100000, ' '));
      return StageResult{{out}, {}};
    });
  }
  EXPECT_EQ(outcome, StageOutcome::failed);
  auto rec = m.get("S1", stage::evaluate);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, Status::failed);
  EXPECT_NE(rec->error.find("File too large"), std::string::npos) << rec->error;
  EXPECT_NE(rec->error.find(run.subject_dir("S1").string()), std::string::npos) << rec->error;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::recursive_directory_iterator(run.root())) EXPECT_FALSE(is_temp_name(e.path())) << e.path();

  Record big = *rec;
  big.error = std::string(100000, 'e');
  std::string error;
  try {
    psmflow::test::FileSizeLimit limit(4096);
    m.put(big);
  } catch (const std::exception& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_NE(error.find((run.manifest_dir() / "S1").string()), std::string::npos) << error;
  EXPECT_EQ(m.get("S1", stage::evaluate)->error, rec->error);
}

// Issue 16 defect 7: the stage's start removes temporaries that dead writers left in its folder.
TEST_F(Fixture, StageStartRemovesStaleTemporariesOfDeadWriters) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  AtomicPath probe(run.frames("S1"));  // a live writer's name, to learn this host's spelling
  const std::string name = probe.temp().filename().string();
  const std::string host = name.substr(name.find('@'));
  const fs::path stale = run.psm_dir("S1") / ("latest" + std::string(kTempMarker) + std::to_string(child) + host);
  write_text(stale, std::string(1000, 'x'));
  write_text(probe.temp(), "being written");
  run_stage(m, "S1", stage::psm, "in", "cfg", [] { return StageResult{}; });
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(probe.temp()));
}

// fuzz_manifest_record's first finding: a record damaged from outside held 2.1e116 as its
// attempt, which was converted to int with undefined behaviour (UBSan). Numbers out of range, or
// not whole, make the record unreadable: not done, and rewritten by the next attempt.
TEST_F(Fixture, ARecordWithNumbersOutOfRangeIsNotDone) {
  const std::string head = R"({"subject":"S1","stage":"psm","status":"done",)";
  for (const std::string field : {R"("attempt":2147483647444444444444444444444)", R"("attempt":1.5)",
                                  R"("pid":-99999999999999999999)", R"("attempt":-2147483649)",
                                  R"("outputs":{"f":{"sha256":"0","size":-1}})"}) {
    write_text(run.manifest_dir() / "S1" / "psm.json", head + field + "}");
    EXPECT_FALSE(m.get("S1", "psm")) << field;
  }
  write_text(run.manifest_dir() / "S1" / "psm.json", head + R"("attempt":3,"pid":-1})");
  ASSERT_TRUE(m.get("S1", "psm"));
  EXPECT_EQ(m.get("S1", "psm")->attempt, 3);
}
