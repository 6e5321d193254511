// How the ranks on one node share its cores and GPUs: the rules in one place. Every part that
// starts CPU threads or picks a GPU asks here; the answers depend only on the environment
// (core/env.hpp) and on what the caller knows about its rank.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace psmflow {

// The rank's index among the ranks of its node. srun sets SLURM_LOCALID for each task; a rank that
// mpirun started inherits the SLURM_* of its daemon instead, so SLURM_LOCALID counts only where
// SLURM_PROCID is this very rank. Else `mpi_local_rank` (the rank in MPI_COMM_TYPE_SHARED).
int node_local_rank(int rank, int mpi_local_rank);

// Cores this process may use: its affinity mask (Slurm's cgroup, taskset), at least 1.
int cores_allotted();

// CPU threads for one rank: `configured` when > 0 ([run] threads, --threads), else
// SLURM_CPUS_PER_TASK when Slurm set it (each task's own share), else cores_allotted() divided
// among `ranks_on_node`; at least 1.
int threads_per_rank(int configured, int ranks_on_node);

// The GPUs this node offers its ranks, as the ids CUDA_VISIBLE_DEVICES takes, in order:
// CUDA_VISIBLE_DEVICES when set (what the CUDA runtime itself honours; empty = none), else
// SLURM_STEP_GPUS when set, else 0..n-1 for the /dev/nvidiaN present.
std::vector<std::string> node_gpus();

struct GpuChoice {
  std::string id;  // for a child's CUDA_VISIBLE_DEVICES
  int index = 0;   // the device number in this process (CUDA numbers the visible GPUs from 0)
};
// The GPU of the rank with this node-local rank: entry local_rank mod the number of node_gpus();
// nullopt when the node has none.
std::optional<GpuChoice> gpu_for_rank(int local_rank);

}  // namespace psmflow
