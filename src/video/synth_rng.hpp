// A small deterministic random source for the synthetic cohort. The standard distributions are
// implementation-defined, so the same seed could give another cohort on another standard
// library; splitmix64 with our own uniform and normal transforms gives the same numbers anywhere.
#pragma once
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace psmflow::synth {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One independent stream per (seed, subject, purpose, ...): hashing the parts in order.
inline std::uint64_t stream_seed(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t state = 0x5eed5eed5eed5eedULL;
  std::uint64_t out = 0;
  for (std::uint64_t p : parts) {
    state ^= p + 0x632be59bd9b4e019ULL + (state << 6) + (state >> 2);
    out = splitmix64(state);
  }
  return out;
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  float uniform(double lo, double hi) { return static_cast<float>(lo + (hi - lo) * uniform()); }
  int below(int n) { return static_cast<int>(uniform() * n); }
  bool chance(double p) { return uniform() < p; }
  float normal() {  // Box-Muller; one value per call keeps the stream simple to reason about
    double u1 = 1.0 - uniform(), u2 = uniform();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  std::uint64_t state_;
};

}  // namespace psmflow::synth
