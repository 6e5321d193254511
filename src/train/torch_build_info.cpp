// The plugin's half of `psmflow --version`: the LibTorch it was built with, and whether CUDA and
// NCCL are in this build. The CUDA runtime and architectures are read from LibTorch's own build
// summary (at::show_config()), the same text torch.__config__.show() prints.
#include <ATen/Version.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <regex>

#include "psmflow/train/plugin.hpp"

#if PSMFLOW_USE_CUDA
#include <nccl.h>
#endif

namespace psmflow::train {
namespace {

#if PSMFLOW_USE_CUDA
std::string config_line(const std::string& config, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(config, m, std::regex(pattern)) ? m[1].str() : std::string();
}

// "-gencode;arch=compute_80,code=sm_80;..." -> "sm_80 sm_90"
std::string cuda_archs(const std::string& flags) {
  std::string archs;
  const std::regex code("code=(sm_[0-9a-z]+|compute_[0-9a-z]+)");
  for (auto it = std::sregex_iterator(flags.begin(), flags.end(), code); it != std::sregex_iterator(); ++it)
    archs += (archs.empty() ? "" : " ") + (*it)[1].str();
  return archs.empty() ? "unknown" : archs;
}

#endif

std::string cuda_entry() {
#if PSMFLOW_USE_CUDA
  const std::string config = at::show_config();
  std::string runtime = config_line(config, "CUDA Runtime ([0-9.]+)");
  return "yes (CUDA runtime " + (runtime.empty() ? "unknown" : runtime) + ", architectures " +
         cuda_archs(config_line(config, "NVCC architecture flags: ([^\n]*)")) + ", " +
         std::to_string(torch::cuda::device_count()) + " device(s) visible)";
#else
  return "no (built without PSMFLOW_USE_CUDA)";
#endif
}

std::string nccl_entry() {
#if PSMFLOW_USE_CUDA
  return "yes (" + std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." + std::to_string(NCCL_PATCH) +
         ")";
#else
  return "no";
#endif
}

}  // namespace

std::vector<BuildEntry> torch_build_info() {
  return {{"LibTorch", TORCH_VERSION}, {"CUDA", cuda_entry()}, {"NCCL", nccl_entry()}};
}

}  // namespace psmflow::train
