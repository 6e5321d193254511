// What the GM trainer reads: the frames of many subjects streamed from their frames.h5 (never the
// whole cohort in memory), and GmSampler's items as the trainer's pairs of global frame ids.
#pragma once
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "psmflow/train/gm_sampler.hpp"
#include "psmflow/store/frames.hpp"
#include "psmflow/train/frames.hpp"
#include "psmflow/train/sampler.hpp"

namespace psmflow::train {

// Global frame id = offset of the subject + index among its detected frames. Keeps at most
// `open_files` readers open (least recently used closed first) and copies each frame read into
// one of a few slots, so a pointer stays valid until `slots` further reads.
class CohortFrames : public train::FrameStore {
 public:
  CohortFrames(std::vector<std::filesystem::path> files, int open_files = 32, int slots = 8);
  std::int64_t size() const override { return total_; }
  int crop_size() const override { return crop_; }
  const std::uint8_t* frame(std::int64_t i) const override;
  const std::vector<std::int64_t>& frames_per_subject() const { return counts_; }
  std::int64_t offset(int subject) const { return offsets_[static_cast<std::size_t>(subject)]; }

 private:
  const FramesReader& reader(int subject) const;
  std::vector<std::filesystem::path> files_;
  std::vector<std::vector<std::int64_t>> detected_;  // per subject: row of each detected frame
  std::vector<std::int64_t> counts_, offsets_, ends_;
  std::int64_t total_ = 0;
  int crop_ = 0;
  int open_files_;
  mutable std::mutex mu_;
  mutable std::map<int, std::unique_ptr<FramesReader>> open_;
  mutable std::list<int> lru_;
  mutable std::vector<std::vector<std::uint8_t>> slots_;
  mutable std::size_t next_slot_ = 0;
};

class GmPairSampler : public train::PairSampler {
 public:
  GmPairSampler(const CohortFrames& frames, GmSamplerSetup setup);
  std::vector<train::Pair> epoch_pairs(int epoch) const override;  // this rank's part
  std::string describe() const override { return sampler_.describe(); }
  const GmSampler& sampler() const { return sampler_; }

 private:
  const CohortFrames& frames_;
  GmSampler sampler_;
};

}  // namespace psmflow::train
