// embeddings.h5: one group per model tag (psm, gm, or a transfer/CTL variant such as
// "tl-gm" or "ctl-e10"): /<tag>/code float32 [N,256], /<tag>/feature float32 [N,2048],
// /<tag>/frame_index int64 [N]; attribute checkpoint (path) and checkpoint_sha256 per group.
// Adding a group rewrites the file to a temporary name and renames it, under a lock file, so
// concurrent writers for the same subject serialise and a crash never leaves a half file.
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

void write_embeddings(const std::filesystem::path& file, const std::string& tag, const Embeddings& e);
Embeddings read_embeddings(const std::filesystem::path& file, const std::string& tag);
std::vector<std::string> embedding_tags(const std::filesystem::path& file);

}  // namespace psmflow
