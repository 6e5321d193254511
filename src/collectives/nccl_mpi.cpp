// The NCCL transport of an MPI job: rank 0's NCCL unique id reaches the other ranks over MPI, and
// a stuck ncclCommInitRank aborts the whole job.
#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/collectives/mpi.hpp"
#include "psmflow/collectives/nccl_transport.hpp"

namespace psmflow::collectives {

std::unique_ptr<Transport> make_nccl_transport(MPI_Comm comm, int device, std::chrono::milliseconds init_timeout) {
  NcclMember m;
  m.device = device;
  m.init_timeout = init_timeout;
  m.on_timeout = abort_job;
  PSMFLOW_MPI(MPI_Comm_rank(comm, &m.rank));
  PSMFLOW_MPI(MPI_Comm_size(comm, &m.world));
  if (m.rank == 0) m.id = make_nccl_id(device);
  PSMFLOW_MPI(MPI_Bcast(m.id.data(), int(m.id.size()), MPI_BYTE, 0, comm));
  return make_nccl_transport(m);
}

}  // namespace psmflow::collectives
