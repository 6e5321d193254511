// Manifest records (manifest/<id>/<stage>.json) damaged or written by something else: get()
// must return a record or nothing (treated as not done), never crash.
#include <spdlog/spdlog.h>

#include "fuzz_support.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // every damaged record warns
    return true;
  }();
  (void)quiet;
  const auto root = psmflow::fuzz::scratch_dir() / "run";
  psmflow::fuzz::write_input("run/manifest/S1/psm.json", data, size);
  psmflow::Manifest m{psmflow::RunDir(root)};
  m.get("S1", "psm");
  return 0;
}
