// embeddings.h5 written by something else: read_embeddings throws naming the file, or returns
// arrays whose sizes match their stated dimensions.
#include <stdexcept>

#include "fuzz_support.hpp"
#include "psmflow/store/embeddings.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = psmflow::fuzz::write_input("embeddings.h5", data, size);
  try {
    auto e = psmflow::read_embeddings(file, "psm");
    if (e.code.size() != static_cast<size_t>(e.n) * static_cast<size_t>(e.code_dim)) __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
