// What `psmflow status` reads from Slurm: squeue's "%i|%T|%r" lines and `scontrol show config`.
#include <string>

#include "psmflow/slurm/scheduler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  psmflow::slurm::parse_squeue(text);
  psmflow::slurm::parse_max_array_size(text);
  return 0;
}
