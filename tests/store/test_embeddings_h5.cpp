#include <gtest/gtest.h>

#include <thread>

#include "psmflow/core/fs.hpp"
#include "psmflow/store/embeddings.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using psmflow::test::ScratchDir;

namespace {

Embeddings sample(int n, float base) {
  Embeddings e;
  e.n = n;
  e.code_dim = 4;
  e.feature_dim = 6;
  for (int i = 0; i < n * 4; ++i) e.code.push_back(base + i);
  for (int i = 0; i < n * 6; ++i) e.feature.push_back(base - i);
  for (int i = 0; i < n; ++i) e.frame_index.push_back(3 * i);
  e.checkpoint = "psm/epoch_0010.pt";
  e.checkpoint_sha256 = std::string(64, 'f');
  return e;
}

int files_in(const fs::path& dir) {
  int n = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) n += !is_temp_name(it->path());
  return n;
}

}  // namespace

TEST(EmbeddingsH5, GroupsAddReplaceAndRoundTrip) {
  ScratchDir dir;
  fs::path f = dir / "embeddings.h5";
  EXPECT_TRUE(embedding_tags(f).empty());
  write_embeddings(f, "psm", sample(5, 1.f));
  write_embeddings(f, "gm", sample(5, 100.f));
  write_embeddings(f, "psm", sample(3, 7.f));  // replaces, keeps gm
  EXPECT_EQ(embedding_tags(f), (std::vector<std::string>{"gm", "psm"}));
  Embeddings psm = read_embeddings(f, "psm");
  EXPECT_EQ(psm.n, 3);
  EXPECT_EQ(psm.code_dim, 4);
  EXPECT_EQ(psm.feature_dim, 6);
  EXPECT_EQ(psm.code, sample(3, 7.f).code);
  EXPECT_EQ(psm.feature, sample(3, 7.f).feature);
  EXPECT_EQ(psm.frame_index, (std::vector<std::int64_t>{0, 3, 6}));
  EXPECT_EQ(psm.checkpoint, "psm/epoch_0010.pt");
  EXPECT_EQ(psm.checkpoint_sha256, std::string(64, 'f'));
  EXPECT_EQ(read_embeddings(f, "gm").code, sample(5, 100.f).code);
  try {
    read_embeddings(f, "ctl-e10");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ctl-e10"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos);
  }
  EXPECT_EQ(files_in(dir.path()), 2);  // embeddings.h5 and its lock file, no temporaries left
}

TEST(EmbeddingsH5, BadTagsAndShapesAreRejected) {
  ScratchDir dir;
  EXPECT_THROW(write_embeddings(dir / "e.h5", "a/b", sample(2, 0)), std::invalid_argument);
  EXPECT_THROW(write_embeddings(dir / "e.h5", "", sample(2, 0)), std::invalid_argument);
  Embeddings bad = sample(2, 0);
  bad.code.pop_back();
  EXPECT_THROW(write_embeddings(dir / "e.h5", "psm", bad), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "e.h5"));
}

TEST(EmbeddingsH5, ConcurrentWritersAllLand) {
  ScratchDir dir;
  fs::path f = dir / "embeddings.h5";
  std::vector<std::thread> writers;
  for (int t = 0; t < 6; ++t)
    writers.emplace_back([&, t] { write_embeddings(f, "tag" + std::to_string(t), sample(20, float(t))); });
  for (auto& w : writers) w.join();
  auto tags = embedding_tags(f);
  ASSERT_EQ(tags.size(), 6u);
  for (int t = 0; t < 6; ++t) EXPECT_EQ(read_embeddings(f, "tag" + std::to_string(t)).code, sample(20, float(t)).code);
}

TEST(EmbeddingsH5, TruncatedFileNamesIt) {
  ScratchDir dir;
  fs::path f = dir / "embeddings.h5";
  write_embeddings(f, "psm", sample(200, 1.f));
  fs::resize_file(f, fs::file_size(f) / 3);
  try {
    read_embeddings(f, "psm");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
  }
}

// Issue 16: the disk fills while a group is added. The error names the file and the OS's
// reason, the earlier embeddings.h5 stays readable with its groups, and no temporary is left.
TEST(EmbeddingsH5, FailedWriteKeepsTheEarlierFile) {
  ScratchDir dir;
  fs::path f = dir / "embeddings.h5";
  write_embeddings(f, "psm", sample(5, 1.f));
  const auto size = fs::file_size(f);
  std::string error;
  try {
    psmflow::test::FileSizeLimit limit(size + 1024);
    write_embeddings(f, "gm", sample(20000, 2.f));
  } catch (const std::exception& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_NE(error.find(dir.path().string()), std::string::npos) << error;
  EXPECT_EQ(read_embeddings(f, "psm").code, sample(5, 1.f).code);
  EXPECT_EQ(embedding_tags(f).size(), 1u);
  for (auto it = fs::directory_iterator(dir.path()); it != fs::directory_iterator(); ++it)
    EXPECT_FALSE(is_temp_name(it->path())) << it->path();
}
