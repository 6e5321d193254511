#include <gtest/gtest.h>

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
