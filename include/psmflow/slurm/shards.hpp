// How subjects are split into the shards of the Slurm array (`psmflow run --shard K/N`).
// Shard K of N holds the subjects at config positions [floor(K*n/N), floor((K+1)*n/N)): balanced
// contiguous blocks that depend only on (n, K, N), so `run --shard` and `status`/`resume` agree.
#pragma once
#include <string>
#include <vector>

namespace psmflow {
struct Config;

namespace slurm {

struct Shard {
  int index = 0;
  std::vector<std::string> subjects;
};

// N = ceil(subjects / subjects_per_task).
int shard_count(int subjects, int subjects_per_task);
// [first, last) positions of shard k of n_shards over n_subjects.
std::pair<int, int> shard_range(int n_subjects, int k, int n_shards);
std::vector<Shard> plan_shards(const Config& cfg);

}  // namespace slurm
}  // namespace psmflow
