#include "psmflow/train/gm_data.hpp"

#include <algorithm>
#include <cstring>

#include "psmflow/core/error.hpp"

namespace psmflow::train {

CohortFrames::CohortFrames(std::vector<std::filesystem::path> files, int open_files, int slots)
    : files_(std::move(files)), open_files_(std::max(1, open_files)) {
  if (files_.empty()) throw StageError("GM: no frames.h5 to train on");
  for (std::size_t s = 0; s < files_.size(); ++s) {
    FramesReader r(files_[s]);  // only the small per-frame tables are read here
    if (s == 0) crop_ = r.crop_size();
    if (r.crop_size() != crop_)
      throw StageError(files_[s].string() + ": crop size " + std::to_string(r.crop_size()) + " differs from " +
                       std::to_string(crop_) + " of " + files_[0].string());
    std::vector<std::int64_t> rows;
    const std::vector<std::uint8_t> usable = r.usable();  // detected, confidence not below the threshold
    for (std::int64_t i = 0; i < r.size(); ++i)
      if (usable.at(static_cast<std::size_t>(i))) rows.push_back(i);
    offsets_.push_back(total_);
    counts_.push_back(static_cast<std::int64_t>(rows.size()));
    total_ += static_cast<std::int64_t>(rows.size());
    ends_.push_back(total_);
    detected_.push_back(std::move(rows));
  }
  if (total_ == 0)
    throw StageError("GM: none of the " + std::to_string(files_.size()) + " frames.h5 has a detected frame");
  slots_.assign(static_cast<std::size_t>(std::max(2, slots)),
                std::vector<std::uint8_t>(std::size_t(crop_) * crop_ * 3));
}

const FramesReader& CohortFrames::reader(int subject) const {
  auto it = open_.find(subject);
  if (it != open_.end()) {
    lru_.remove(subject);
    lru_.push_front(subject);
    return *it->second;
  }
  if (static_cast<int>(open_.size()) >= open_files_) {
    open_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(subject);
  return *(open_[subject] = std::make_unique<FramesReader>(files_[static_cast<std::size_t>(subject)]));
}

const std::uint8_t* CohortFrames::frame(std::int64_t i) const {
  if (i < 0 || i >= total_) throw std::out_of_range("GM frame id " + std::to_string(i) + " out of range");
  std::lock_guard<std::mutex> lock(mu_);
  // The first subject whose frames end after i (subjects without frames end where they start).
  auto at = std::upper_bound(ends_.begin(), ends_.end(), i) - ends_.begin();
  int subject = static_cast<int>(at);
  std::vector<std::uint8_t>& slot = slots_[next_slot_++ % slots_.size()];
  reader(subject).read(detected_[static_cast<std::size_t>(subject)][static_cast<std::size_t>(i - offsets_[at])],
                       slot.data());
  return slot.data();
}

GmPairSampler::GmPairSampler(const CohortFrames& frames, GmSamplerSetup setup)
    : frames_(frames), sampler_([&] {
        setup.frames = frames.frames_per_subject();
        return setup;
      }()) {}

std::vector<train::Pair> GmPairSampler::epoch_pairs(int epoch) const {
  std::vector<train::Pair> pairs;
  for (const GmItem& it : sampler_.rank_epoch(epoch)) {
    std::int64_t base = frames_.offset(it.subject);
    pairs.push_back({base + it.a, base + it.b, it.flip});
  }
  return pairs;
}

}  // namespace psmflow::train
