#include "psmflow/train/plugin.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "psmflow/core/install.hpp"

namespace psmflow {
namespace {

constexpr const char* kPluginFile = "libpsmflow_torch.so";
constexpr const char* kEntrySymbol = "psmflow_torch_plugin_v1";

const TorchPlugin* load_plugin() {
  // The plugin sits beside libpsmflow.so in the build tree and in an install, wherever that is.
  const std::filesystem::path file = library_dir() / kPluginFile;
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) throw std::runtime_error("cannot load " + file.string() + ": " + dlerror());
  using Entry = const TorchPlugin* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, kEntrySymbol));
  if (entry == nullptr)
    throw std::runtime_error(file.string() + " has no " + kEntrySymbol + " (a plugin from another psmflow build?)");
  return entry();
}

}  // namespace

const TorchPlugin& torch_plugin() {
  static const TorchPlugin* plugin = load_plugin();
  return *plugin;
}

std::vector<BuildEntry> describe_build() {
  std::vector<BuildEntry> out = build_info();
  try {
    out.push_back({"data", data_dir().string()});
  } catch (const std::exception& e) {
    out.push_back({"data", std::string("not found: ") + e.what()});
  }
  const std::string plugin = (library_dir() / kPluginFile).string();
  try {
    std::vector<BuildEntry> torch = torch_plugin().torch_build_info();
    out.push_back({"plugin", plugin});
    out.insert(out.end(), torch.begin(), torch.end());
  } catch (const std::exception& e) {
    out.push_back({"plugin", plugin + " not loaded: " + e.what()});
    for (const char* name : {"LibTorch", "CUDA", "NCCL"}) out.push_back({name, "not loaded"});
  }
  return out;
}

}  // namespace psmflow
