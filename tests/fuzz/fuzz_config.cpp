// TOML run configurations: parsing, defaults and validation (without checking input files).
#include <string>

#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    psmflow::Config cfg = psmflow::parse_config(text, "/fuzz/run.toml", false);
    cfg.sections_hash({"preprocess", "data", "model", "train.psm", "train.gm", "eval", "seed"});
  } catch (const psmflow::UsageError&) {
  }
  return 0;
}
