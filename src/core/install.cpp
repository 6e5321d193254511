#include "psmflow/core/install.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "psmflow/core/error.hpp"

namespace psmflow {
namespace fs = std::filesystem;

fs::path library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_dir), &info) == 0 || info.dli_fname == nullptr)
    throw std::runtime_error("cannot find the folder of libpsmflow.so");
  return fs::canonical(info.dli_fname).parent_path();
}

fs::path data_dir() {
  if (const char* env = std::getenv(kDataDirEnv); env != nullptr && *env != '\0') {
    if (!fs::is_directory(fs::path(env) / "slurm"))
      throw UsageError(std::string(kDataDirEnv) + "=" + env + ": not a psmflow data folder (it has no slurm/)");
    return env;
  }
  const fs::path lib = library_dir();
  const fs::path installed = (lib / "../../share/psmflow").lexically_normal();
  const fs::path build_tree = lib / "share/psmflow";
  for (const fs::path& dir : {installed, build_tree})
    if (fs::is_directory(dir / "slurm")) return dir;
  throw UsageError("cannot find psmflow's data folder (looked in " + installed.string() + " and " +
                   build_tree.string() + "); set " + kDataDirEnv + " to PREFIX/share/psmflow");
}

}  // namespace psmflow
