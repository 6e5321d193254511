// CSV label files ("frame,AU1,AU2,..."), then aligned to a short video as preprocess does.
#include "fuzz_support.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/video/labels.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = psmflow::fuzz::write_input("labels.csv", data, size);
  try {
    auto table = psmflow::video::read_labels(file, "csv", 0, {1, 2, 4, 6, 12});
    std::vector<std::string> warnings;
    psmflow::video::align_labels(table, {1, 2, 4, 6, 12}, {0, 1, 2, 5, 9}, 10, warnings);
  } catch (const psmflow::StageError&) {
  }
  return 0;
}
