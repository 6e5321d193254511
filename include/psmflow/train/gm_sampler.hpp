// GM and GM-CTL pairs over all subjects (METHOD.md §4), split across ranks. The epoch's item list
// is a pure function of (seed, epoch) — the same on every rank and for every world size — and
// rank r takes slice r of every global batch of world*batch items. So K ranks x batch B step
// through exactly the batches of 1 rank x batch K*B, and averaged gradients match.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace psmflow::train {

struct GmItem {
  int subject = 0;     // index into the sampler's subject list
  std::int64_t a = 0;  // frame of that subject
  std::int64_t b = 0;  // second frame (== a when flip)
  bool flip = false;   // the second image is the horizontal flip of the first
};

struct GmSamplerSetup {
  std::vector<std::int64_t> frames;  // usable frames per subject, in a fixed subject order
  std::string mode = "gm";           // gm | gm-ctl
  unsigned long long seed = 1;
  int rank = 0, world = 1;
  int batch = 16;                    // items per rank per step
  std::int64_t items_per_epoch = 0;  // 0 = half the frames of all subjects (as a PSM's N/2 pairs)
};

class GmSampler {
 public:
  explicit GmSampler(GmSamplerSetup setup);           // throws UsageError on a bad mode or no frames
  std::int64_t steps_per_epoch() const;               // global batches; a last partial one is dropped
  std::vector<GmItem> global_epoch(int epoch) const;  // epoch is 1-based; steps*world*batch items
  std::vector<GmItem> rank_epoch(int epoch) const;    // this rank's steps*batch items, batch after batch
  // Position of this rank's first item in every global batch: the loader keys augmentation draws
  // by it (train::TrainOptions::first_slot), so ranks draw their own and K x B draws as 1 x K*B.
  std::int64_t first_slot() const { return static_cast<std::int64_t>(s_.rank) * s_.batch; }
  std::int64_t delta(int epoch, int subject) const;  // GM-CTL offset, capped at frames-1
  std::string describe() const;
  const GmSamplerSetup& setup() const { return s_; }

 private:
  GmItem item(int epoch, std::int64_t i) const;
  GmSamplerSetup s_;
  std::int64_t items_ = 0;
};

std::uint64_t mix64(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0);

}  // namespace psmflow::train
