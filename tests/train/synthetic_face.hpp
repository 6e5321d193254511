// A cartoon face for the training tests (no LibTorch here, so the light tests compile fast).
#pragma once
#include <cstdint>
#include <vector>

namespace psmflow::test {
// The mouth opens and closes with `phase`; size*size*3 RGB bytes.
std::vector<std::uint8_t> synthetic_face(int size, int phase);
}  // namespace psmflow::test
