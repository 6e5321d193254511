// The NCCL transport of the gradient-sync engine without MPI: how a rank joins an NCCL
// communicator once it holds rank 0's unique id, and a lone rank that needs nobody (the one-GPU
// check of tools/bench/gpu_check, on machines without MPI). grad_sync_backends.hpp shares the id
// over MPI. Defined only where nccl_transport.cpp is compiled (CUDA builds, the NCCL transport
// test, the LibTorch-only CUDA build).
#pragma once
#include <array>
#include <chrono>
#include <memory>
#include <string>

#include "psmflow/collectives/transport.hpp"
#include "psmflow/collectives/watchdog.hpp"

namespace psmflow::collectives {

// The bytes of an ncclUniqueId (NCCL_UNIQUE_ID_BYTES), to send to the other ranks by any means.
using NcclId = std::array<char, 128>;
// Selects `device`, then asks NCCL for a new id (rank 0 does this once per communicator).
NcclId make_nccl_id(int device);

struct NcclMember {
  int device = 0;
  int rank = 0;
  int world = 1;
  NcclId id{};
  // ncclCommInitRank longer than this calls on_timeout; it and Transport::abort end the process.
  std::chrono::milliseconds init_timeout{std::chrono::minutes(1)};
  OnTimeout on_timeout = exit_alone;
};
// CUDA tensors on m.device (float32, float64, float16): ncclAllReduce / ncclBroadcast on a private
// stream, ordered after LibTorch's.
std::unique_ptr<Transport> make_nccl_transport(const NcclMember& m);
// A communicator of one rank on `device`: its sums and broadcasts are copies, done by NCCL kernels.
std::unique_ptr<Transport> make_lone_nccl_transport(int device, std::chrono::milliseconds init_timeout);

}  // namespace psmflow::collectives
