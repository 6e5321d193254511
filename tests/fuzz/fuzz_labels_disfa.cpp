// DISFA label folders: the input is split at each "\n@@\n" into the files SN001_au1.txt,
// SN001_au2.txt, ... (so one input can hold several AUs, and two files for one AU).
#include <string_view>

#include "fuzz_support.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/video/labels.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  const fs::path dir = psmflow::fuzz::scratch_dir() / "disfa";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const int names[] = {1, 2, 4, 1};  // the fourth file is a second one for AU1
  for (int k = 0; k < 4 && !text.empty(); ++k) {
    const size_t cut = text.find("\n@@\n");
    const std::string_view part = text.substr(0, cut);
    const std::string name = "disfa/SN00" + std::to_string(k) + "_au" + std::to_string(names[k]) + ".txt";
    psmflow::fuzz::write_input(name, reinterpret_cast<const uint8_t*>(part.data()), part.size());
    text = cut == std::string_view::npos ? std::string_view() : text.substr(cut + 4);
  }
  try {
    auto table = psmflow::video::read_labels(dir, "disfa", 1, {1, 2, 4});
    std::vector<std::string> warnings;
    psmflow::video::align_labels(table, {1, 2, 4}, {0, 3, 7}, 8, warnings);
  } catch (const psmflow::StageError&) {
  }
  return 0;
}
