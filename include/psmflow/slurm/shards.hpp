// How subjects are split into the shards of the Slurm array (`psmflow run --shard K/N`).
// Shard K of N holds the subjects at positions K, K+N, K+2N, ... of the id-sorted list: the rule of
// `psmflow run --shard K/N`, which this calls (pipeline::shard_subjects), so that status and resume
// cannot disagree with the array tasks. N = ceil(subjects / subjects_per_task), so no shard holds
// more than subjects_per_task subjects.
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
std::vector<std::string> shard_subjects(std::vector<std::string> ids, int k, int n_shards);
std::vector<Shard> plan_shards(const Config& cfg);

}  // namespace slurm
}  // namespace psmflow
