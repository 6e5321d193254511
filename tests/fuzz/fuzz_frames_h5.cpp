// frames.h5 written by something else (wrong dtype, wrong shape, missing datasets): the reader
// throws std::runtime_error naming the file, or reads every frame inside its buffer.
#include <stdexcept>

#include "fuzz_support.hpp"
#include "psmflow/store/frames.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = psmflow::fuzz::write_input("frames.h5", data, size);
  try {
    psmflow::FramesReader r(file);
    if (r.size() > 0 && r.size() < 4096) r.read_all();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
