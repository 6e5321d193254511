#include "psmflow/core/placement.hpp"

#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "psmflow/core/env.hpp"
#include "psmflow/core/error.hpp"

namespace psmflow {
namespace {

std::vector<std::string> split_ids(const std::string& list) {
  std::vector<std::string> ids;
  std::string item;
  for (char c : list + ",") {
    if (c != ',') {
      item += c;
      continue;
    }
    if (!item.empty()) ids.push_back(item);
    item.clear();
  }
  return ids;
}

std::vector<std::string> device_files() {
  std::vector<std::string> ids;
  for (int i = 0; i < 64; ++i)
    if (std::filesystem::exists("/dev/nvidia" + std::to_string(i))) ids.push_back(std::to_string(i));
  return ids;
}

// A Slurm GPU id is the device's number among all GPUs of the node, which CUDA sees in full when
// CUDA_VISIBLE_DEVICES is unset.
int device_number(const std::string& id) {
  try {
    std::size_t used = 0;
    int n = std::stoi(id, &used);
    if (used == id.size() && n >= 0) return n;
  } catch (const std::exception&) {
  }
  throw UsageError("GPU id \"" + id + "\" (SLURM_STEP_GPUS) is not a device number");
}

}  // namespace

int node_local_rank(int rank, int mpi_local_rank) {
  auto procid = env_int("SLURM_PROCID");
  auto localid = env_int("SLURM_LOCALID");
  if (procid && localid && *procid == rank) return static_cast<int>(*localid);
  return mpi_local_rank;
}

int cores_allotted() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int threads_per_rank(int configured, int ranks_on_node) {
  if (configured > 0) return configured;
  if (auto slurm = env_int("SLURM_CPUS_PER_TASK"); slurm && *slurm > 0) return static_cast<int>(*slurm);
  return std::max(1, cores_allotted() / std::max(1, ranks_on_node));
}

std::vector<std::string> node_gpus() {
  if (auto visible = env_string("CUDA_VISIBLE_DEVICES")) return split_ids(*visible);
  if (auto slurm = env_string("SLURM_STEP_GPUS")) return split_ids(*slurm);
  return device_files();
}

std::optional<GpuChoice> gpu_for_rank(int local_rank) {
  std::vector<std::string> gpus = node_gpus();
  if (gpus.empty()) return std::nullopt;
  std::size_t slot = static_cast<std::size_t>(std::max(0, local_rank)) % gpus.size();
  GpuChoice g;
  g.id = gpus[slot];
  g.index = env_string("CUDA_VISIBLE_DEVICES") ? static_cast<int>(slot) : device_number(g.id);
  return g;
}

}  // namespace psmflow
