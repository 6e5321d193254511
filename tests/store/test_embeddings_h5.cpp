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

TEST(EmbeddingsH5, OneFilePerTagRoundTripsAndReplaces) {
  ScratchDir dir;
  const fs::path d = dir / "embeddings";
  EXPECT_TRUE(embedding_tags(d).empty());
  write_embeddings(d / "psm.h5", "psm", sample(5, 1.f));
  write_embeddings(d / "gm.h5", "gm", sample(5, 100.f));
  const auto gm_bytes = read_file(d / "gm.h5");
  write_embeddings(d / "psm.h5", "psm", sample(3, 7.f));  // replaces psm; gm.h5 is not touched
  EXPECT_EQ(embedding_tags(d), (std::vector<std::string>{"gm", "psm"}));
  EXPECT_EQ(read_file(d / "gm.h5"), gm_bytes);
  Embeddings psm = read_embeddings(d / "psm.h5", "psm");
  EXPECT_EQ(psm.n, 3);
  EXPECT_EQ(psm.code_dim, 4);
  EXPECT_EQ(psm.feature_dim, 6);
  EXPECT_EQ(psm.code, sample(3, 7.f).code);
  EXPECT_EQ(psm.feature, sample(3, 7.f).feature);
  EXPECT_EQ(psm.frame_index, sample(3, 7.f).frame_index);
  EXPECT_EQ(psm.checkpoint, "psm/epoch_0010.pt");
  EXPECT_EQ(psm.checkpoint_sha256, std::string(64, 'f'));
  try {
    read_embeddings(d / "gm.h5", "ctl-e10");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ctl-e10"), std::string::npos);
  }
  EXPECT_EQ(files_in(d), 2);  // no temporaries left
}

TEST(EmbeddingsH5, RejectsBadTagsAndShapes) {
  ScratchDir dir;
  EXPECT_THROW(write_embeddings(dir / "e.h5", "a/b", sample(2, 0)), std::invalid_argument);
  EXPECT_THROW(write_embeddings(dir / "e.h5", "", sample(2, 0)), std::invalid_argument);
  Embeddings bad = sample(2, 0);
  bad.frame_index.pop_back();
  EXPECT_THROW(write_embeddings(dir / "e.h5", "psm", bad), std::invalid_argument);
}

// Embed stages of one subject run side by side: each writes its own file, and the index that
// links them all is rewritten under a lock, so the last rewrite holds every tag.
TEST(EmbeddingsH5, IndexLinksEveryTagWhileWritersRunConcurrently) {
  ScratchDir dir;
  const fs::path d = dir / "embeddings", index = dir / "embeddings.h5";
  std::vector<std::thread> writers;
  for (int t = 0; t < 6; ++t)
    writers.emplace_back([&, t] {
      const std::string tag = "tag" + std::to_string(t);
      write_embeddings(d / (tag + ".h5"), tag, sample(20, float(t)));
      write_embeddings_index(index, d);
    });
  for (auto& w : writers) w.join();
  ASSERT_EQ(embedding_tags(d).size(), 6u);
  // Read through the index's external links, as h5py users do.
  for (int t = 0; t < 6; ++t) EXPECT_EQ(read_embeddings(index, "tag" + std::to_string(t)).code, sample(20, float(t)).code);
}

TEST(EmbeddingsH5, H5pyFindsEveryTagFromTheIndex) {
  ScratchDir dir;
  const fs::path d = dir / "embeddings", index = dir / "embeddings.h5";
  write_embeddings(d / "psm.h5", "psm", sample(5, 1.f));
  write_embeddings(d / "untrained.h5", "untrained", sample(5, 2.f));
  write_embeddings_index(index, d);
  // The README's example, from another working directory: links resolve beside the index.
  auto r = test::run_shell("cd / && /usr/bin/python3 -c \"import h5py; f = h5py.File('" + index.string() +
                           "', 'r'); print(sorted(f.keys()), f['psm/code'].shape, f['untrained/feature'].shape)\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "['psm', 'untrained'] (5, 4) (5, 6)\n");
}

TEST(EmbeddingsH5, TruncatedFileNamesIt) {
  ScratchDir dir;
  fs::path f = dir / "embeddings" / "psm.h5";
  write_embeddings(f, "psm", sample(200, 1.f));
  fs::resize_file(f, fs::file_size(f) / 3);
  try {
    read_embeddings(f, "psm");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
  }
}

// Embeddings that something else wrote (issue 16): refused naming the file, never trusted.
TEST(EmbeddingsH5, FilesFromElsewhereAreRefused) {
  if (psmflow::test::run_shell("/usr/bin/python3 -c 'import h5py'").exit_code != 0)
    GTEST_SKIP() << "SKIPPED: python3-h5py is not installed (apt-get install python3-h5py)";
  ScratchDir dir;
  const std::vector<std::pair<std::string, std::string>> damages = {
      {"del g['frame_index']; g['frame_index'] = np.zeros(3)", "dataset 'frame_index' is floating-point, expected integer"},
      {"del g['code'], g['feature']; g['code'] = np.zeros((3, 70000), 'f4'); g['feature'] = np.zeros((3, 70000), 'f4')",
       "has embeddings of more than 65536 dimensions"},
      {"del g['feature']; g.create_dataset('feature', shape=(3, 2**40), dtype='f4', chunks=(1, 1024))",
       "dataset 'feature' claims 3298534883328 elements"},
  };
  for (std::size_t i = 0; i < damages.size(); ++i) {
    fs::path f = dir / ("psm" + std::to_string(i) + ".h5");
    write_embeddings(f, "psm", sample(3, 1.f));
    auto r = psmflow::test::edit_with_h5py(f, "g = f['psm']; " + damages[i].first);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    try {
      read_embeddings(f, "psm");
      ADD_FAILURE() << "accepted: " << damages[i].first;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(damages[i].second), std::string::npos) << e.what();
    }
  }
}

// Issue 16: the disk fills while a group is added. The error names the file and the OS's
// reason, the earlier embeddings.h5 stays readable with its groups, and no temporary is left.
TEST(EmbeddingsH5, FailedWriteKeepsTheEarlierFile) {
  ScratchDir dir;
  const fs::path d = dir / "embeddings";
  write_embeddings(d / "psm.h5", "psm", sample(5, 1.f));
  const auto size = fs::file_size(d / "psm.h5");
  std::string error;
  try {
    psmflow::test::FileSizeLimit limit(size + 1024);
    write_embeddings(d / "gm.h5", "gm", sample(20000, 2.f));
  } catch (const std::exception& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_NE(error.find(d.string()), std::string::npos) << error;
  EXPECT_EQ(read_embeddings(d / "psm.h5", "psm").code, sample(5, 1.f).code);
  EXPECT_EQ(embedding_tags(d), (std::vector<std::string>{"psm"}));
  for (auto it = fs::directory_iterator(d); it != fs::directory_iterator(); ++it)
    EXPECT_FALSE(is_temp_name(it->path())) << it->path();
}
