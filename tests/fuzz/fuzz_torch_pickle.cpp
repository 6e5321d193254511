// --init checkpoints: psmflow's own torch.save reader (zip container, pickle, storages).
// Any input must end in tensors or a UsageError; ASan/UBSan catch reads past a buffer.
#include "fuzz_support.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/model/torch_pickle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = psmflow::fuzz::write_input("in.pt", data, size);
  try {
    psmflow::model::read_torch_tensors(file);
  } catch (const psmflow::UsageError&) {
  }
  return 0;
}
