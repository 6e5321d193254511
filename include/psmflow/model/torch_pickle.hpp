// A reader for the tensors of a torch.save file (the zip format of PyTorch ≥ 1.6) without
// Python: LibTorch's PyTorchStreamReader opens the zip, a small pickle machine reads data.pkl
// (dicts, OrderedDicts, tuples, lists, scalars, strings and torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter with persistent storage ids), and storages come from the data/<key> records.
// torch::pickle_load cannot be used: it rejects the OrderedDict of every state_dict().
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace psmflow::model {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Every tensor in the file's top-level dict, nested dict keys joined with '.', in file order
// ({'codegeneration': {'conv1.0.weight': t}} gives "codegeneration.conv1.0.weight"). Non-tensor
// values (epochs, strings) are skipped. Tensors are contiguous CPU copies.
// Throws UsageError naming the file and the reason for anything it cannot read.
NamedTensors read_torch_tensors(const std::filesystem::path& file);

}  // namespace psmflow::model
