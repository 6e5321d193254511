// Run by test_gm_cli.cpp under `mpirun -n 2`: rank 1 never joins the allreduce (a stuck peer);
// rank 0's watchdog must end the job within the timeout instead of waiting forever.
#include <mpi.h>

#include <chrono>
#include <thread>

#include "psmflow/collectives/grad_sync_backends.hpp"

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  psmflow::collectives::GradSyncOptions opt;
  opt.timeout = std::chrono::seconds(2);
  auto sync = psmflow::collectives::make_mpi_grad_sync(MPI_COMM_WORLD, opt);
  if (sync->rank() == 1) std::this_thread::sleep_for(std::chrono::minutes(5));
  std::vector<double> v = {1.0};
  sync->allreduce_sum(v);
  MPI_Finalize();
  return 0;
}
