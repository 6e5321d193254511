#include "psmflow/collectives/grad_buckets.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace psmflow::collectives {

BucketLayout plan_buckets(const std::vector<ParamShape>& params, std::size_t first_bucket_bytes,
                          std::size_t bucket_bytes) {
  BucketLayout L;
  L.shapes = params;
  L.bucket_of.assign(params.size(), 0);
  L.offset_of.assign(params.size(), 0);
  for (std::size_t k = params.size(); k-- > 0;) {
    const ParamShape& p = params[k];
    const std::size_t bytes = static_cast<std::size_t>(p.numel) * p.element_size;
    const std::size_t cap = L.buckets.size() == 1 ? std::min(first_bucket_bytes, bucket_bytes) : bucket_bytes;
    bool fits = !L.buckets.empty() && L.buckets.back().dtype == p.dtype && L.buckets.back().bytes() + bytes <= cap;
    if (!fits) L.buckets.push_back({p.dtype, p.element_size, {}, 0});
    BucketLayout::Bucket& b = L.buckets.back();
    L.bucket_of[k] = L.buckets.size() - 1;
    L.offset_of[k] = b.numel;
    b.params.push_back(k);
    b.numel += p.numel;
  }
  return L;
}

BucketReadiness::BucketReadiness(const BucketLayout& layout) : layout_(layout) { reset(); }

void BucketReadiness::reset() {
  ready_.assign(layout_.bucket_of.size(), 0);
  missing_.clear();
  for (const auto& b : layout_.buckets) missing_.push_back(b.params.size());
  next_ = 0;
  marked_ = 0;
}

void BucketReadiness::mark_ready(std::size_t param) {
  if (ready_.at(param))
    throw std::logic_error("gradient sync: the gradient of parameter " + std::to_string(param) +
                           " arrived twice in one step; call allreduce_gradients() after every backward() "
                           "(gradient accumulation over several backward() calls is not supported)");
  ready_[param] = 1;
  ++marked_;
  --missing_[layout_.bucket_of[param]];
}

std::vector<std::size_t> BucketReadiness::take_startable() {
  std::vector<std::size_t> out;
  while (next_ < missing_.size() && missing_[next_] == 0) out.push_back(next_++);
  return out;
}

std::vector<std::size_t> BucketReadiness::take_rest() {
  std::vector<std::size_t> out;
  while (next_ < missing_.size()) out.push_back(next_++);
  return out;
}

}  // namespace psmflow::collectives
