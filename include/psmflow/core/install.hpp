// Where psmflow finds what it ships besides the binary: the LibTorch plugin and the data folder
// (sbatch templates, configs/, jobs/). Everything is found relative to libpsmflow.so, so a build
// tree, an install prefix and a moved install prefix all work without the source tree:
//   install:    PREFIX/lib/psmflow/libpsmflow.so  ->  PREFIX/share/psmflow/
//   build tree: BUILD/libpsmflow.so                ->  BUILD/share/psmflow/ (links CMake makes into the source tree)
// PSMFLOW_DATA_DIR overrides the data folder for relocations that split the two.
#pragma once
#include <filesystem>

namespace psmflow {

inline constexpr const char* kDataDirEnv = "PSMFLOW_DATA_DIR";

std::filesystem::path library_dir();  // the folder holding libpsmflow.so (and the plugin)
std::filesystem::path data_dir();     // throws UsageError naming where it looked

}  // namespace psmflow
