// One FaceCycle training step (loss, backward, Adam) timed per preset, and where the time goes:
// the same sub-networks timed alone at the step's batch sizes.
// Usage: model_bench PRESET [pairs=16] [threads=2] [steps=3] [vgg=none|random] [breakdown=1|0]
//                    [precision=fp32|bf16]
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "psmflow/model/facecycle.hpp"
#include "psmflow/model/precision.hpp"
#include "psmflow/train/cpu_cache.hpp"

using namespace psmflow::model;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

double last_cpu_ms = 0;  // CPU time of the last ms_per_call, per call: robust to other load

double ms_per_call(int n, const std::function<void()>& f) {
  f();  // warm-up: allocator and kernel selection
  auto t0 = Clock::now();
  const double c0 = cpu_ms();
  for (int i = 0; i < n; ++i) f();
  last_cpu_ms = (cpu_ms() - c0) / n;
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / n;
}

void write_random_vgg(const std::string& file) {
  const int idx[] = {0, 2, 5, 7, 10, 12, 14, 16, 19};
  const int64_t io[][2] = {{3, 64},    {64, 64},   {64, 128},  {128, 128}, {128, 256},
                           {256, 256}, {256, 256}, {256, 256}, {256, 512}};
  c10::Dict<std::string, at::Tensor> d;
  for (int i = 0; i < 9; ++i) {
    const std::string k = "features." + std::to_string(idx[i]);
    d.insert(k + ".weight", torch::randn({io[i][1], io[i][0], 3, 3}) * std::sqrt(2.0 / (9 * io[i][0])));
    d.insert(k + ".bias", torch::zeros({io[i][1]}));
  }
  auto bytes = torch::pickle_save(c10::IValue(d));
  std::FILE* f = std::fopen(file.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string preset = argc > 1 ? argv[1] : "tiny";
  const int pairs = argc > 2 ? std::atoi(argv[2]) : 16;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 3;
  const std::string vgg = argc > 5 ? argv[5] : "none";
  const bool breakdown = argc > 6 ? std::atoi(argv[6]) != 0 : true;
  const Precision precision = precision_by_name(argc > 7 ? argv[7] : "fp32");
  torch::set_num_threads(threads);
  // As in psmflow train; PSMFLOW_BENCH_NO_CACHE=1 times LibTorch's default allocator instead.
  if (std::getenv("PSMFLOW_BENCH_NO_CACHE") == nullptr) psmflow::train::use_cpu_block_cache();
  torch::manual_seed(0);
  FaceCycle net(preset_by_name(preset));
  if (vgg == "random") {
    const std::string file = "/tmp/psmflow_bench_vgg_" + std::to_string(::getpid()) + ".pt";
    write_random_vgg(file);
    net->load_vgg_weights(file);
    std::remove(file.c_str());
  }
  torch::optim::Adam opt(net->trainable_parameters(), torch::optim::AdamOptions(8e-5).betas({0.5, 0.999}));
  auto x0 = torch::randn({pairs, 3, 64, 64}), x1 = torch::randn({pairs, 3, 64, 64});
  auto x = torch::cat({x0, x1});
  const int n = 2 * pairs;

  auto train_step = [&] {  // as the trainer does it: the forward pass in the chosen precision
    drop_gradients(net->trainable_parameters());
    torch::Tensor total;
    {
      PrecisionScope mixed(precision, torch::kCPU);
      total = net->loss(x0, x1, 1.0).total;
    }
    total.backward();
    opt.step();
  };
  const double step = ms_per_call(steps, train_step);
  if (const char* trace = std::getenv("PSMFLOW_PROFILE")) {  // chrome trace of one step
    torch::autograd::profiler::RecordProfile guard(trace);
    train_step();
  }
  const double step_cpu = last_cpu_ms;
  std::printf(
      "psmflow step: preset %s, batch %d pairs, %d threads, perceptual %s, %s: %.0f ms/step, %.2f img/s, "
      "CPU %.0f ms/step\n",
      preset.c_str(), pairs, threads, net->has_perceptual() ? "on" : "off", precision_name(precision), step,
      n / (step / 1000), step_cpu);
  if (!breakdown) return 0;
  const double fwd = ms_per_call(steps, [&] { net->loss(x0, x1, 1.0); });
  std::printf("  loss forward alone %.0f ms (CPU %.0f ms)\n", fwd, last_cpu_ms);

  // Sub-networks alone, forward + backward, at the sizes one step uses.
  auto fb = [&](const std::function<torch::Tensor()>& f) {
    return ms_per_call(steps, [&] {
      net->zero_grad();
      f().sum().backward();
    });
  };
  auto xg = x.clone().requires_grad_(true);
  std::vector<double> cpu;
  const double enc = fb([&] { return net->flow()->forward(net->encoder()->forward(x).code).flow; });
  cpu.push_back(last_cpu_ms);
  auto flow = torch::randn({n, 2, 16, 16}) * 0.1;
  const double gen_stem = fb([&] { return net->generator()->stem(xg).feat; });
  cpu.push_back(last_cpu_ms);
  auto stem = net->generator()->stem(x);
  const double gen_dec = fb([&] {
    return net->generator()->decode({stem.feat2.detach().requires_grad_(true), stem.feat.detach().requires_grad_(true)},
                                    flow);
  });
  cpu.push_back(last_cpu_ms);
  std::printf(
      "  fwd+bwd alone, wall (CPU): encoder+flow %.0f (%.0f) ms; generator stem %.0f (%.0f) ms, twice a step; "
      "generator decoder %.0f (%.0f) ms, three times a step\n",
      enc, cpu[0], gen_stem, cpu[1], gen_dec, cpu[2]);
  if (net->has_perceptual()) {
    auto outs = torch::randn({4 * n, 3, 64, 64}).requires_grad_(true);
    auto& trunk = *net->named_children()["vgg"]->as<VggTrunkImpl>();
    const double vgg_out = fb([&] { return trunk.forward(outs).back(); });
    std::printf("  perceptual VGG trunk on 4x%d outputs, fwd+bwd %.0f (%.0f) ms\n", n, vgg_out, last_cpu_ms);
  }
  return 0;
}
