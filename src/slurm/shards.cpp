#include "psmflow/slurm/shards.hpp"

#include <algorithm>

#include "psmflow/config/config.hpp"
#include "psmflow/pipeline/plan.hpp"

namespace psmflow::slurm {

int shard_count(int subjects, int subjects_per_task) {
  if (subjects <= 0) return 0;
  return (subjects + subjects_per_task - 1) / subjects_per_task;
}

std::vector<std::string> shard_subjects(std::vector<std::string> ids, int k, int n_shards) {
  return pipeline::shard_subjects(std::move(ids), pipeline::Shard{k, n_shards});
}

std::vector<Shard> plan_shards(const Config& cfg) {
  int n = static_cast<int>(cfg.data.subjects.size());
  int count = shard_count(n, cfg.slurm.subjects_per_task);
  std::vector<Shard> out(count);
  std::vector<std::string> ids;
  for (const auto& s : cfg.data.subjects) ids.push_back(s.id);
  for (int k = 0; k < count; ++k) out[k] = {k, shard_subjects(ids, k, count)};
  return out;
}

}  // namespace psmflow::slurm
