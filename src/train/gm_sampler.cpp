#include "psmflow/train/gm_sampler.hpp"

#include <algorithm>
#include <numeric>
#include <random>

#include "psmflow/core/error.hpp"

namespace psmflow::train {

std::uint64_t mix64(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  auto step = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  return step(step(step(step(seed) ^ a) ^ b) ^ c);
}

GmSampler::GmSampler(GmSamplerSetup setup) : s_(std::move(setup)) {
  if (s_.mode != "gm" && s_.mode != "gm-ctl")
    throw UsageError("GM sampler: mode '" + s_.mode + "' is not gm or gm-ctl");
  if (s_.world < 1 || s_.rank < 0 || s_.rank >= s_.world || s_.batch < 1)
    throw UsageError("GM sampler: bad rank/world/batch");
  for (std::int64_t n : s_.frames)
    if (n < 0) throw UsageError("GM sampler: negative frame count");
  std::int64_t total = std::accumulate(s_.frames.begin(), s_.frames.end(), std::int64_t{0});
  if (s_.frames.empty() || *std::max_element(s_.frames.begin(), s_.frames.end()) < 1)
    throw UsageError("GM sampler: no subject has frames");
  items_ = s_.items_per_epoch > 0 ? s_.items_per_epoch : std::max<std::int64_t>(1, total / 2);
  if (steps_per_epoch() < 1)
    throw UsageError("GM sampler: " + std::to_string(items_) + " items per epoch are fewer than one global batch of " +
                     std::to_string(s_.world) + " ranks x " + std::to_string(s_.batch));
}

std::int64_t GmSampler::steps_per_epoch() const { return items_ / (static_cast<std::int64_t>(s_.world) * s_.batch); }

std::int64_t GmSampler::delta(int epoch, int subject) const {
  std::int64_t d = epoch < 50 ? 2 * epoch : epoch < 100 ? 4 * epoch : 5 * epoch;
  return std::min<std::int64_t>(d, std::max<std::int64_t>(s_.frames[subject] - 1, 0));
}

// Item i of an epoch depends on (seed, epoch, i) only. Persons are drawn uniformly (not by frame
// count), as METHOD.md §4 says: "for each item a person".
GmItem GmSampler::item(int epoch, std::int64_t i) const {
  std::mt19937_64 rng(mix64(s_.seed, 0x474d, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(i)));
  GmItem it;
  do {
    it.subject = static_cast<int>(rng() % s_.frames.size());
  } while (s_.frames[it.subject] < 1);
  std::int64_t n = s_.frames[it.subject];
  if (s_.mode == "gm-ctl") {
    std::int64_t d = delta(epoch, it.subject);
    it.a = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n - d));
    it.b = it.a + d;
    return it;
  }
  it.a = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  if (n == 1 || (rng() & 1)) {
    it.flip = true;
    it.b = it.a;
  } else {
    std::int64_t other = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n - 1));
    it.b = other >= it.a ? other + 1 : other;
  }
  return it;
}

std::vector<GmItem> GmSampler::global_epoch(int epoch) const {
  std::int64_t n = steps_per_epoch() * s_.world * s_.batch;
  std::vector<GmItem> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out.push_back(item(epoch, i));
  return out;
}

std::vector<GmItem> GmSampler::rank_epoch(int epoch) const {
  std::vector<GmItem> out;
  out.reserve(static_cast<std::size_t>(steps_per_epoch() * s_.batch));
  std::int64_t global_batch = static_cast<std::int64_t>(s_.world) * s_.batch;
  for (std::int64_t step = 0; step < steps_per_epoch(); ++step)
    for (int k = 0; k < s_.batch; ++k) out.push_back(item(epoch, step * global_batch + s_.rank * s_.batch + k));
  return out;
}

std::string GmSampler::describe() const {
  std::int64_t total = std::accumulate(s_.frames.begin(), s_.frames.end(), std::int64_t{0});
  return s_.mode + " over " + std::to_string(s_.frames.size()) + " subjects, " + std::to_string(total) +
         " frames, seed " + std::to_string(s_.seed) + ", " + std::to_string(items_) + " items per epoch, " +
         std::to_string(s_.world) + " x " + std::to_string(s_.batch);
}

}  // namespace psmflow::train
