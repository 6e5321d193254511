// Pair samplers: which frames make up each training pair of an epoch (METHOD.md §4 "Pairs").
// A sampler is a pure function of (seed, epoch): it keeps no state between epochs, so a resumed
// run asks for the same epoch and gets the same pairs, whatever ran before. Frame ids index the
// FrameStore the trainer reads (for a PSM: the subject's detected frames in temporal order).
// The GM sampler (dist part) implements the same interface over its own frame store.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace psmflow::train {

struct Pair {
  std::int64_t a = 0;
  std::int64_t b = 0;
  bool flip_b = false;  // GM: the second image is a horizontal flip of the first
};

class PairSampler {
 public:
  virtual ~PairSampler() = default;
  virtual std::vector<Pair> epoch_pairs(int epoch) const = 0;  // epoch is 1-based
  // Identifies the sampler and its inputs; stored in checkpoints and checked on resume.
  virtual std::string describe() const = 0;
};

// Random disjoint pairs, N/2 per epoch, a fresh permutation every epoch.
class PsmSampler : public PairSampler {
 public:
  PsmSampler(std::int64_t frames, unsigned long long seed);
  std::vector<Pair> epoch_pairs(int epoch) const override;
  std::string describe() const override;

 private:
  std::int64_t n_;
  unsigned long long seed_;
};

// Curriculum temporal learning: pairs (i, i + Δ(epoch)) for i < N − Δ, Δ capped at N − 1 (logged
// once per sampler); the pairs are dealt to batches in a random order fixed by (seed, epoch).
class CtlSampler : public PairSampler {
 public:
  CtlSampler(std::int64_t frames, unsigned long long seed);
  std::vector<Pair> epoch_pairs(int epoch) const override;
  std::string describe() const override;
  std::int64_t delta(int epoch) const;  // capped

 private:
  std::int64_t n_;
  unsigned long long seed_;
  mutable bool cap_logged_ = false;
};

// "psm" or "psm-ctl"; throws UsageError on other modes.
std::unique_ptr<PairSampler> make_subject_sampler(const std::string& mode, std::int64_t frames,
                                                  unsigned long long seed);

// splitmix64-style mixing of (seed, a, b, c): the seed of every random choice, so results
// depend on where they are made, never on thread timing or on what ran before.
unsigned long long mix_seed(unsigned long long seed, unsigned long long a, unsigned long long b = 0,
                            unsigned long long c = 0);

}  // namespace psmflow::train
