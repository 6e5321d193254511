// A small run directory written with the real store writers: subjects whose frames carry AU labels
// and whose embeddings (psm, gm, untrained, optional variants) carry the AUs to different degrees.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace psmflow::test {

struct SyntheticSubject {
  std::string id;
  int frames = 90;
  std::vector<std::string> extra_tags;  // e.g. tl-gm, ctl-e10
  int crop = 16;
  int code_dim = 12;
  int feature_dim = 24;
};

// Writes subjects/<id>/frames.h5, embeddings/<tag>.h5 with their index, psm/losses.csv and gm/losses.csv under run_dir.
void write_synthetic_run(const std::filesystem::path& run_dir, const std::vector<SyntheticSubject>& subjects);

}  // namespace psmflow::test
