// subjects/<id>/embeddings/<tag>.h5, one file per model tag (psm, gm, untrained, or a
// transfer/CTL variant such as "tl-gm" or "ctl-e10"), each the output of one embed stage:
// /<tag>/code float32 [N,256], /<tag>/feature float32 [N,2048], /<tag>/frame_index int64 [N];
// attributes checkpoint (path) and checkpoint_sha256 on the group. subjects/<id>/embeddings.h5
// is an index: one HDF5 external link /<tag> per file, so h5py opens every tag from one place.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psmflow {

struct Embeddings {
  std::int64_t n = 0;
  int code_dim = 0;
  int feature_dim = 0;
  std::vector<float> code;     // n * code_dim, row-major
  std::vector<float> feature;  // n * feature_dim
  std::vector<std::int64_t> frame_index;
  std::string checkpoint;
  std::string checkpoint_sha256;
};

// Writes file (atomically) with the one group tag.
void write_embeddings(const std::filesystem::path& file, const std::string& tag, const Embeddings& e);
// Rewrites index with one external link per embedding file in dir (atomically, under a lock).
void write_embeddings_index(const std::filesystem::path& index, const std::filesystem::path& dir);
Embeddings read_embeddings(const std::filesystem::path& file, const std::string& tag);
std::vector<std::string> embedding_tags(const std::filesystem::path& dir);  // the tags of dir/*.h5, sorted

}  // namespace psmflow
