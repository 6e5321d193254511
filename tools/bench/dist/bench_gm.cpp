// GM data-parallel step timing: each rank trains the FaceCycle network of a preset on random
// frames with a per-rank batch, and times compute (forward + backward + Adam) and the gradient
// allreduce separately. Run under mpirun by tools/bench/dist/run; prints one line from rank 0.
//   psmflow_bench_gm PRESET BATCH STEPS
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "psmflow/config.hpp"
#include "psmflow/dist/grad_sync_backends.hpp"
#include "psmflow/train/net.hpp"

using namespace psmflow;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::string preset = argc > 1 ? argv[1] : "tiny";
  int batch = argc > 2 ? std::atoi(argv[2]) : 4;
  int steps = argc > 3 ? std::atoi(argv[3]) : 10;
  torch::set_num_threads(1);
  Config cfg = default_config();
  cfg.model.preset = preset;
  auto net = train::make_facecycle_net(cfg, torch::kCPU);
  auto params = net->trainable_parameters();
  auto sync = dist::make_mpi_grad_sync(MPI_COMM_WORLD);
  sync->broadcast_parameters(params);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-4).betas({0.5, 0.999}));
  torch::manual_seed(rank + 1);
  double compute = 0, comm = 0;
  Clock::time_point start;
  for (int s = -2; s < steps; ++s) {  // two warm-up steps
    if (s == 0) {
      MPI_Barrier(MPI_COMM_WORLD);
      start = Clock::now();
    }
    auto x0 = torch::randn({batch, 3, 64, 64}), x1 = torch::randn({batch, 3, 64, 64});
    auto t0 = Clock::now();
    adam.zero_grad();
    net->loss(x0, x1, 1.0).total.backward();
    auto t1 = Clock::now();
    sync->allreduce_gradients(params);
    auto t2 = Clock::now();
    adam.step();
    auto t3 = Clock::now();
    if (s < 0) continue;
    compute += std::chrono::duration<double>((t1 - t0) + (t3 - t2)).count();
    comm += std::chrono::duration<double>(t2 - t1).count();
  }
  // Wall time is the honest step time: a rank that waits in the allreduce for a slower one counts
  // that wait once, not once as the slow rank's compute and again as the fast rank's comm.
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  double mine[3] = {compute, comm, wall}, worst[3];
  MPI_Reduce(mine, worst, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  std::size_t n = 0;
  for (auto& p : params) n += static_cast<std::size_t>(p.numel());
  if (rank == 0) {
    double step = worst[2] / steps;
    std::fflush(stdout);
    std::printf(
        "ranks=%d preset=%s params=%zu batch_per_rank=%d step_s=%.4f compute_s=%.4f img_per_s_per_rank=%.2f "
        "allreduce_share=%.3f\n",
        world, preset.c_str(), n, batch, step, worst[0] / steps, 2.0 * batch / step, worst[1] / worst[2]);
  }
  sync.reset();
  MPI_Finalize();
  return 0;
}
