// The transports of the gradient-sync engine (STYLE.md 1: one file each behind transport.hpp) and
// the choice between them: NCCL for CUDA tensors when built with CUDA, MPI otherwise.
#pragma once
#include <mpi.h>

#include <chrono>
#include <memory>

#include "psmflow/collectives/grad_sync.hpp"
#include "psmflow/collectives/transport.hpp"

namespace psmflow::collectives {

// CPU tensors (float32 or float64): MPI_Iallreduce / MPI_Ibcast on a private duplicate of comm.
std::unique_ptr<Transport> make_mpi_transport(MPI_Comm comm);
// CUDA tensors on `device` (float32, float64, float16): ncclAllReduce / ncclBroadcast on a private
// stream, ordered after LibTorch's. The NCCL unique id goes from rank 0 to the others over comm;
// ncclCommInitRank longer than init_timeout ends the job. Defined only where nccl_transport.cpp
// is compiled: CUDA builds, and the NCCL transport test (tests/collectives/CMakeLists.txt).
std::unique_ptr<Transport> make_nccl_transport(MPI_Comm comm, int device, std::chrono::milliseconds init_timeout);

// The engine over the MPI transport.
std::unique_ptr<GradSync> make_mpi_grad_sync(MPI_Comm comm, GradSyncOptions opt = {});
// The engine over the NCCL transport; throws UsageError when psmflow was built without
// PSMFLOW_USE_CUDA.
std::unique_ptr<GradSync> make_nccl_grad_sync(MPI_Comm comm, int device, GradSyncOptions opt = {});
// NCCL for a CUDA device (when built with CUDA), MPI otherwise.
std::unique_ptr<GradSync> make_grad_sync(MPI_Comm comm, const torch::Device& device, GradSyncOptions opt = {});

}  // namespace psmflow::collectives
