#include "psmflow/slurm/shards.hpp"

#include "psmflow/config.hpp"

namespace psmflow::slurm {

int shard_count(int subjects, int subjects_per_task) {
  if (subjects <= 0) return 0;
  return (subjects + subjects_per_task - 1) / subjects_per_task;
}

std::pair<int, int> shard_range(int n_subjects, int k, int n_shards) {
  auto at = [&](long long i) { return static_cast<int>(i * n_subjects / n_shards); };
  return {at(k), at(k + 1LL)};
}

std::vector<Shard> plan_shards(const Config& cfg) {
  int n = static_cast<int>(cfg.data.subjects.size());
  int count = shard_count(n, cfg.slurm.subjects_per_task);
  std::vector<Shard> out(count);
  for (int k = 0; k < count; ++k) {
    out[k].index = k;
    auto [first, last] = shard_range(n, k, count);
    for (int i = first; i < last; ++i) out[k].subjects.push_back(cfg.data.subjects[i].id);
  }
  return out;
}

}  // namespace psmflow::slurm
