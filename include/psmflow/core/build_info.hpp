// What built this psmflow: its version and commit and the versions of the libraries it runs
// with, for `psmflow --version` and a run's provenance.json. LibTorch, CUDA and NCCL are the
// plugin's to report (psmflow/train/plugin.hpp: describe_build()).
#pragma once
#include <string>
#include <vector>

namespace psmflow {

struct BuildEntry {
  std::string name;
  std::string value;
};

// RUN_DIR/provenance.json (written by psmflow/train/provenance.hpp, shown by the report).
inline constexpr const char* kProvenanceFile = "provenance.json";

// psmflow, commit, MPI, OpenCV, HDF5 (the libraries this process loaded, not only the headers).
std::vector<BuildEntry> build_info();

}  // namespace psmflow
