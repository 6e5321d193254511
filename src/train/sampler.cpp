#include "psmflow/train/sampler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "psmflow/core/error.hpp"
#include "psmflow/train/schedule.hpp"

namespace psmflow::train {
namespace {

unsigned long long splitmix(unsigned long long x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// std::shuffle's use of the distribution is implementation-defined; a hand-written Fisher-Yates
// keeps pair lists identical across standard libraries.
template <class T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

constexpr unsigned long long kPairStream = 0x5041495253ULL;  // "PAIRS"

}  // namespace

unsigned long long mix_seed(unsigned long long seed, unsigned long long a, unsigned long long b,
                            unsigned long long c) {
  return splitmix(splitmix(splitmix(splitmix(seed) ^ a) ^ b) ^ c);
}

PsmSampler::PsmSampler(std::int64_t frames, unsigned long long seed) : n_(frames), seed_(seed) {
  if (n_ < 2) throw StageError("PSM sampler: need at least 2 frames, have " + std::to_string(n_));
}

std::vector<Pair> PsmSampler::epoch_pairs(int epoch) const {
  std::vector<std::int64_t> order(n_);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(mix_seed(seed_, kPairStream, static_cast<unsigned long long>(epoch)));
  shuffle(order, rng);
  std::vector<Pair> pairs(n_ / 2);
  for (std::size_t k = 0; k < pairs.size(); ++k) pairs[k] = {order[2 * k], order[2 * k + 1], false};
  return pairs;
}

std::string PsmSampler::describe() const { return "psm n=" + std::to_string(n_); }

CtlSampler::CtlSampler(std::int64_t frames, unsigned long long seed) : n_(frames), seed_(seed) {
  if (n_ < 2) throw StageError("PSM-CTL sampler: need at least 2 frames, have " + std::to_string(n_));
}

std::int64_t CtlSampler::delta(int epoch) const {
  long long d = ctl_delta(epoch);
  if (d < n_) return d;
  if (!cap_logged_) {
    spdlog::info("CTL: Δ({}) = {} reaches the {} frames; capped at N−1 = {} from this epoch on", epoch, d, n_,
                 n_ - 1);
    cap_logged_ = true;
  }
  return n_ - 1;
}

std::vector<Pair> CtlSampler::epoch_pairs(int epoch) const {
  std::int64_t d = delta(epoch);
  std::vector<Pair> pairs(n_ - d);
  for (std::int64_t i = 0; i < n_ - d; ++i) pairs[i] = {i, i + d, false};
  std::mt19937_64 rng(mix_seed(seed_, kPairStream, static_cast<unsigned long long>(epoch)));
  shuffle(pairs, rng);
  return pairs;
}

std::string CtlSampler::describe() const { return "psm-ctl n=" + std::to_string(n_); }

std::unique_ptr<PairSampler> make_subject_sampler(const std::string& mode, std::int64_t frames,
                                                  unsigned long long seed) {
  if (mode == "psm") return std::make_unique<PsmSampler>(frames, seed);
  if (mode == "psm-ctl") return std::make_unique<CtlSampler>(frames, seed);
  throw UsageError("train: mode '" + mode + "' is not a subject mode (psm, psm-ctl)");
}

}  // namespace psmflow::train
