// Loading the original code's checkpoints. Our submodules carry the original names, so the
// mapping is one rename per network: codegeneration → encoder, exptoflow → flow,
// Swap_Generator → generator; the keys inside each state_dict are the same.
#include <spdlog/spdlog.h>

#include <map>

#include "psmflow/core/error.hpp"
#include "psmflow/model/facecycle.hpp"
#include "psmflow/model/torch_pickle.hpp"

namespace psmflow::model {
namespace {

const std::pair<const char*, const char*> kRenames[] = {
    {"codegeneration", "encoder"}, {"exptoflow", "flow"}, {"Swap_Generator", "generator"}};

// "codegeneration.module.conv1.0.weight" → "encoder.conv1.0.weight"; empty when not a network key.
std::string our_name(const std::string& key) {
  for (const auto& [theirs, ours] : kRenames) {
    const std::string prefix = std::string(theirs) + ".";
    if (key.rfind(prefix, 0) != 0) continue;
    auto rest = key.substr(prefix.size());
    if (rest.rfind("module.", 0) == 0) rest = rest.substr(7);  // saved from nn.DataParallel
    return std::string(ours) + "." + rest;
  }
  return {};
}

}  // namespace

void load_pytorch_checkpoint(FaceCycle& net, const std::filesystem::path& file) {
  std::map<std::string, torch::Tensor> found;
  size_t ignored = 0;
  for (auto& [key, t] : read_torch_tensors(file)) {
    auto name = our_name(key);
    if (name.empty()) {
      ++ignored;
    } else {
      found[name] = t;
    }
  }
  torch::NoGradGuard no_grad;
  size_t loaded = 0;
  for (auto& item : net->named_parameters()) {
    const auto& name = item.key();
    auto& param = item.value();
    if (name.rfind("vgg.", 0) == 0) continue;  // the perceptual trunk is not part of these checkpoints
    auto it = found.find(name);
    if (it == found.end()) {
      throw UsageError(file.string() + ": not a checkpoint of this network: no tensor for '" + name +
                       "' (expected dicts codegeneration, exptoflow, Swap_Generator)");
    }
    if (it->second.sizes() != param.sizes()) {
      throw UsageError(file.string() + ": '" + name + "' has shape " + c10::str(it->second.sizes()) +
                       ", this network (preset " + net->preset().name + ") expects " + c10::str(param.sizes()));
    }
    param.copy_(it->second);
    found.erase(it);
    ++loaded;
  }
  if (!found.empty()) {
    throw UsageError(file.string() + ": tensor '" + found.begin()->first + "' has no place in this network (preset " +
                     net->preset().name + ")");
  }
  spdlog::info("model: loaded {} tensors from PyTorch checkpoint {}{}", loaded, file.string(),
               ignored ? fmt::format(" ({} other tensors ignored)", ignored) : "");
}

}  // namespace psmflow::model
