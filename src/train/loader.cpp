#include "psmflow/train/loader.hpp"

#include <random>

namespace psmflow::train {

std::int64_t steps_in_epoch(std::int64_t pairs, int batch) { return (pairs + batch - 1) / batch; }

Batch make_batch(const FrameStore& frames, const std::vector<Pair>& pairs, int batch, std::int64_t step,
                 unsigned long long seed, int epoch, bool augment, const AugmentParams& params,
                 std::int64_t first_slot) {
  const std::int64_t begin = step * batch;
  const std::int64_t b = std::min<std::int64_t>(batch, static_cast<std::int64_t>(pairs.size()) - begin);
  const std::int64_t image = 3 * kImageSize * kImageSize;
  Batch out;
  out.step = step;
  out.x0 = torch::empty({b, 3, kImageSize, kImageSize});
  out.x1 = torch::empty({b, 3, kImageSize, kImageSize});
  float* p0 = out.x0.data_ptr<float>();
  float* p1 = out.x1.data_ptr<float>();
  const int size = frames.crop_size();
  for (std::int64_t k = 0; k < b; ++k) {
    const Pair& pr = pairs[begin + k];
    if (augment) {
      // One generator per image slot: batches do not depend on which thread built them or when.
      const auto slot = static_cast<unsigned long long>(first_slot + k);
      std::mt19937_64 r0(mix_seed(seed, epoch, step, 2 * slot));
      std::mt19937_64 r1(mix_seed(seed, epoch, step, 2 * slot + 1));
      augment_image(frames.frame(pr.a), size, r0, p0 + k * image, params);
      augment_image(frames.frame(pr.b), size, r1, p1 + k * image, params, pr.flip_b);
    } else {
      eval_image(frames.frame(pr.a), size, p0 + k * image);
      eval_image(frames.frame(pr.b), size, p1 + k * image, pr.flip_b);
    }
  }
  return out;
}

BatchLoader::BatchLoader(const FrameStore& frames, std::vector<Pair> pairs, int batch, unsigned long long seed,
                         int epoch, bool augment, std::int64_t first_step, int depth, std::int64_t first_slot)
    : frames_(frames),
      pairs_(std::move(pairs)),
      batch_(batch),
      seed_(seed),
      epoch_(epoch),
      augment_(augment),
      first_slot_(first_slot),
      next_step_(first_step),
      end_step_(steps_in_epoch(static_cast<std::int64_t>(pairs_.size()), batch)),
      depth_(depth > 0 ? depth : 0),
      produced_(first_step) {
  if (depth_ > 0 && next_step_ < end_step_) thread_ = std::thread([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Batch BatchLoader::build(std::int64_t step) const {
  return make_batch(frames_, pairs_, batch_, step, seed_, epoch_, augment_, {}, first_slot_);
}

void BatchLoader::produce() {
  try {
    for (;;) {
      std::int64_t step;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || queue_.size() < depth_; });
        if (stop_ || produced_ >= end_step_) return;
        step = produced_;
      }
      Batch b = build(step);
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(b));
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  if (next_step_ >= end_step_) return std::nullopt;
  if (depth_ == 0) return build(next_step_++);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !queue_.empty() || error_; });
  if (queue_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  ++next_step_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace psmflow::train
