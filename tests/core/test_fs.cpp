#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/core/ids.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using psmflow::test::ScratchDir;

TEST(Fs, AtomicWriteReplacesWholeAndLeavesNoTemp) {
  ScratchDir dir;
  write_file_atomic(dir / "f.txt", "one");
  write_file_atomic(dir / "f.txt", "two two");
  EXPECT_EQ(read_file(dir / "f.txt"), "two two");
  int files = 0;
  for (auto it = fs::directory_iterator(dir.path()); it != fs::directory_iterator(); ++it) ++files;
  EXPECT_EQ(files, 1);
}

// The last-word write for a full disk: over the file's own bytes, padded, never longer.
TEST(Fs, OverwriteInPlaceKeepsTheSizeAndRefusesWhatDoesNotFit) {
  ScratchDir dir;
  write_file_atomic(dir / "r.json", std::string(16, 'x'));
  overwrite_in_place(dir / "r.json", "{\"a\": 1}");
  EXPECT_EQ(read_file(dir / "r.json"), "{\"a\": 1}" + std::string(8, ' '));
  try {
    overwrite_in_place(dir / "r.json", std::string(17, 'y'));
    FAIL() << "17 bytes were written over 16";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "r.json").string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("do not fit"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(dir / "r.json"), "{\"a\": 1}" + std::string(8, ' '));
  EXPECT_THROW(overwrite_in_place(dir / "absent.json", "{}"), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir / "absent.json"));
}

TEST(Fs, UncommittedAtomicPathIsRemoved) {
  ScratchDir dir;
  fs::path temp;
  {
    AtomicPath p(dir / "sub" / "out.h5");
    temp = p.temp();
    psmflow::test::write_text(temp, "partial");
    EXPECT_TRUE(is_temp_name(temp));
    EXPECT_EQ(temp.extension(), ".h5");
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_FALSE(fs::exists(dir / "sub" / "out.h5"));
}

TEST(Hash, Sha256KnownValues) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ScratchDir dir;
  psmflow::test::write_text(dir / "d/1.jpg", "abc");
  EXPECT_EQ(sha256_file(dir / "d/1.jpg"), sha256_hex("abc"));
  std::string folder = sha256_path(dir / "d");
  psmflow::test::write_text(dir / "d/2.jpg", "x");
  EXPECT_NE(sha256_path(dir / "d"), folder);
}

TEST(Ids, SafeAlphabetOnly) {
  for (const char* ok : {"SN001", "s1", "a.b-c_d", "9"}) EXPECT_TRUE(is_safe_id(ok)) << ok;
  for (const char* bad : {"", ".", "..", "a b", "a'b", "a\"b", "a/b", "-x", "_run", "$(id)", "a;b"})
    EXPECT_FALSE(is_safe_id(bad)) << bad;
  EXPECT_FALSE(is_safe_id(std::string(65, 'a')));
}

// Issue 16 defect 7: a stage's start removes temporaries whose writer died on this host, and
// leaves those of live writers and of other hosts alone.
TEST(Fs, StaleTemporariesOfDeadWritersAreRemoved) {
  ScratchDir dir;
  AtomicPath live(dir / "sub" / "live.h5");
  psmflow::test::write_text(live.temp(), "being written");
  // A dead writer: a child that has exited, whose pid is not reused this quickly.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  const std::string name = live.temp().filename().string();
  const std::string marker(kTempMarker);
  const std::size_t pid_at = name.find(marker) + marker.size();
  const std::size_t host_at = name.find('@', pid_at);
  ASSERT_NE(host_at, std::string::npos) << name;
  const std::string host_and_rest = name.substr(host_at);  // "@host.<random>.h5"
  const fs::path dead = dir / "sub" / ("frames" + marker + std::to_string(child) + host_and_rest);
  const fs::path other_host = dir / ("frames" + marker + std::to_string(child) + "@elsewhere.1f.h5");
  const fs::path old_style = dir / ("frames" + marker + std::to_string(child) + ".1f.h5");
  for (const auto& p : {dead, other_host, old_style}) psmflow::test::write_text(p, "left behind");

  EXPECT_EQ(remove_stale_temps(dir.path()), 1u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live.temp()));
  EXPECT_TRUE(fs::exists(other_host));
  EXPECT_TRUE(fs::exists(old_style));  // no host in the name: it may be another node's
  EXPECT_EQ(remove_stale_temps(dir / "missing"), 0u);
}

TEST(Fs, FailedWriteNamesTheFileAndReasonAndLeavesNoTemp) {
  ScratchDir dir;
  write_file_atomic(dir / "eval.json", "good");
  std::string error;
  try {
    psmflow::test::FileSizeLimit limit(1024);
    write_file_atomic(dir / "eval.json", std::string(4096, 'x'));
  } catch (const std::exception& e) {
    error = e.what();
  }
  EXPECT_NE(error.find((dir / "eval.json").string() + ": File too large"), std::string::npos) << error;
  EXPECT_EQ(read_file(dir / "eval.json"), "good");
  int files = 0;
  for (auto it = fs::directory_iterator(dir.path()); it != fs::directory_iterator(); ++it) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Fs, MessagesNameTheFileATemporaryWillBecome) {
  for (const char* name : {"eval.json", "checkpoint", "ckpt-e4.pt", "a b.h5"}) {
    AtomicPath p(fs::path("/run/subjects/S 1") / name);
    EXPECT_EQ(destination_of(p.temp()), p.final_path()) << p.temp();
  }
  EXPECT_EQ(destination_of("/run/eval.json"), fs::path("/run/eval.json"));
}
