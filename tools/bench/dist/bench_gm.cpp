// GM data-parallel step timing: each rank trains the FaceCycle network of a preset on random
// frames with a per-rank batch and times the wall clock per step, and the wait after backward()
// in allreduce_gradients(): with the overlapped path (default, as the GM trainer runs) that is
// the part of the communication NOT hidden behind backward(); with `plain` it is all of it.
// Run under mpirun by tools/bench/dist/run; prints one line from rank 0.
//   psmflow_bench_gm PRESET BATCH STEPS [overlap|plain] [BUCKET_MIB]   (bucket default 25, first 1)
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/train/cpu_cache.hpp"
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
  bool overlap = argc <= 4 || std::string(argv[4]) != "plain";
  torch::set_num_threads(1);
  psmflow::train::use_cpu_block_cache();  // as the GM trainer does
  Config cfg = default_config();
  cfg.model.preset = preset;
  auto net = train::make_facecycle_net(cfg, torch::kCPU);
  auto params = net->trainable_parameters();
  collectives::GradSyncOptions opt;
  if (argc > 5) opt.bucket_bytes = static_cast<std::size_t>(std::atof(argv[5]) * (1 << 20));
  auto sync = collectives::make_mpi_grad_sync(MPI_COMM_WORLD, opt);
  sync->broadcast_parameters(params);
  if (overlap) sync->overlap_backward(params);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-4).betas({0.5, 0.999}));
  torch::manual_seed(rank + 1);
  double compute = 0, wait = 0;
  std::size_t started = 0, buckets = 0;
  // Per step: when this rank's backward() ended and its allreduce_gradients() returned, on the
  // node's monotonic clock (the same for every process of the node).
  std::vector<double> backward_end(static_cast<std::size_t>(steps)), sync_end(static_cast<std::size_t>(steps));
  auto seconds = [](Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); };
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
    wait += std::chrono::duration<double>(t2 - t1).count();
    started += sync->last_step().started_in_backward;
    backward_end[static_cast<std::size_t>(s)] = seconds(t1);
    sync_end[static_cast<std::size_t>(s)] = seconds(t2);
    buckets += sync->last_step().buckets;
  }
  // Wall time is the honest step time: a rank that waits in the allreduce for a slower one counts
  // that wait once, not once as the slow rank's compute and again as the fast rank's comm.
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  double mine[3] = {compute, wait, wall}, worst[3];
  MPI_Reduce(mine, worst, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  // Communication left after the LAST rank's backward: what no overlap could hide, without the
  // time a faster rank spends waiting for a slower one (which counts in its wait above).
  MPI_Allreduce(MPI_IN_PLACE, backward_end.data(), steps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, sync_end.data(), steps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double exposed = 0;
  for (int s = 0; s < steps; ++s)
    exposed += std::max(0.0, sync_end[static_cast<std::size_t>(s)] - backward_end[static_cast<std::size_t>(s)]);
  std::size_t n = 0;
  for (auto& p : params) n += static_cast<std::size_t>(p.numel());
  if (rank == 0) {
    double step = worst[2] / steps;
    std::fflush(stdout);
    std::printf(
        "ranks=%d preset=%s path=%s params=%zu batch_per_rank=%d step_s=%.4f compute_s=%.4f img_per_s_per_rank=%.2f "
        "wait_after_backward_share=%.4f exposed_comm_share=%.4f buckets_started_in_backward=%zu/%zu\n",
        world, preset.c_str(), overlap ? "overlap" : "plain", n, batch, step, worst[0] / steps, 2.0 * batch / step,
        worst[1] / worst[2], exposed / worst[2], started / static_cast<std::size_t>(steps),
        buckets / static_cast<std::size_t>(steps));
  }
  sync.reset();
  MPI_Finalize();
  return 0;
}
