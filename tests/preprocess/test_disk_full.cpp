// Issue 16 defect 5: the disk fills while frames.h5 is written (here: the file size limit of
// `trap '' XFSZ; ulimit -f`, which makes write() fail with EFBIG as a full disk fails with
// ENOSPC). The failure is recorded with the OS's reason, no temporary file is left, the process
// exits 1 (HDF5's exit-time cleanup used to crash it: exit 139), and a rerun with room succeeds.
#include <gtest/gtest.h>

#include "pipeline_support.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/frames.hpp"

using namespace psmflow;
using namespace psmflow::test;

TEST(PreprocessDiskFull, FramesH5WriteFailureIsRecordedAndTheRerunSucceeds) {
  ScratchDir dir;
  TestSubject s = make_subject(dir.path(), "S", 60);
  const std::string args = preprocess_args(s.video, "S", dir / "run");
  auto full = run_shell("(trap '' XFSZ; ulimit -f 64; " + shell_quote(psmflow_binary().string()) + " " + args + ")");
  EXPECT_EQ(full.exit_code, 1) << full.output;
  EXPECT_NE(full.output.find("File too large"), std::string::npos) << full.output;
  auto rec = record(dir / "run", "S");
  EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
  EXPECT_NE(rec.value("error", "").find("File too large"), std::string::npos) << rec.dump();
  EXPECT_NE(rec.value("error", "").find((dir / "run/subjects/S").string()), std::string::npos) << rec.dump();
  EXPECT_FALSE(fs::exists(dir / "run/subjects/S/frames.h5"));
  for (const auto& e : fs::recursive_directory_iterator(dir / "run")) EXPECT_FALSE(is_temp_name(e.path())) << e.path();

  auto again = run_psmflow(args);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(record(dir / "run", "S").value("status", ""), "done");
  EXPECT_EQ(FramesReader(dir / "run/subjects/S/frames.h5").size(), 60);
}
