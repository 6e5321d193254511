// Throughput of one PSM training step (tools/bench/train runs it beside the PyTorch reference).
// bench_train_step PRESET PAIRS THREADS STEPS [VGG_WEIGHTS] [--trainer] [--bf16] [--loader[=FRAMES_H5]]
// PSMFLOW_BENCH_PROFILE=trace.json also writes a profile of one step (chrome trace format).
//   step mode: the step on fixed random inputs, as shared/bench/ref_psm_step.py times it;
//   --trainer: the whole loop (loader thread, augmentation of uint8 frames, Adam): an epoch of STEPS
//              steps to warm up, then one of STEPS steps timed.
//   --bf16: precision = "bf16" (model/precision.hpp) instead of fp32.
//   --loader: the loader thread's work alone (make_batch: pairs of uint8 frames augmented,
//             normalised) on this one thread, with no model: the rate above which a faster
//             device's step would wait for its data. On drawn frames, or on the detected
//             frames of FRAMES_H5.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include "psmflow/model/precision.hpp"
#include "psmflow/train/cpu_cache.hpp"
#include "psmflow/train/loader.hpp"
#include "psmflow/train/sampler.hpp"
#include "psmflow/train/trainer.hpp"
#include "support/test_support.hpp"
#include "train_test_support.hpp"

using namespace psmflow;

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

model::FaceCycle make_net(const std::string& preset, const std::string& vgg) {
  torch::manual_seed(0);
  model::FaceCycle net(model::preset_by_name(preset));
  if (!vgg.empty()) net->load_vgg_weights(vgg);
  return net;
}

double time_steps(model::FaceCycle& net, int pairs, int steps, model::Precision precision) {
  torch::optim::Adam opt(net->trainable_parameters(), torch::optim::AdamOptions(8e-5).betas({0.5, 0.999}));
  auto x0 = torch::randn({pairs, 3, 64, 64}), x1 = torch::randn({pairs, 3, 64, 64});
  auto step = [&] {
    model::drop_gradients(net->trainable_parameters());
    torch::Tensor total;
    {
      model::PrecisionScope mixed(precision, torch::kCPU);
      total = net->loss(x0, x1, 1.0).total;
    }
    total.backward();
    opt.step();
  };
  step();  // warm-up, like the reference
  if (const char* trace = std::getenv("PSMFLOW_BENCH_PROFILE")) {  // one profiled step, chrome trace
    torch::autograd::profiler::RecordProfile guard(trace);
    step();
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}

// The whole loop's second epoch of STEPS steps, as losses.csv records it (loader waits included):
// the first epoch is the warm-up, as the reference's first step is.
double time_trainer(model::FaceCycle net, int pairs, int steps, model::Precision precision) {
  auto frames = test::synthetic_frames(2 * pairs * steps);
  train::PsmSampler sampler(frames.size(), 1);
  train::FaceCycleNet adapter(std::move(net));
  test::ScratchDir dir;
  train::TrainOptions opt;
  opt.section.epochs = 2;
  opt.section.batch = pairs;
  opt.section.checkpoint_every = 0;
  opt.section.sample_every = 0;
  opt.section.precision = model::precision_name(precision);
  opt.out_dir = dir.path();
  opt.label = "bench";
  train::Trainer trainer(adapter, frames, sampler, opt);
  trainer.run();
  std::ifstream csv(trainer.losses_csv());
  std::string line, last;
  while (std::getline(csv, line)) last = line;
  const double images_per_s = std::stod(last.substr(last.rfind(',') + 1));
  return 2.0 * pairs / images_per_s;
}

// Seconds per batch of make_batch with augmentation on, over STEPS batches after one warm-up;
// an epoch with fewer full batches is gone through again (batch 0 is the warm-up).
double time_loader(const train::MemoryFrames& frames, int pairs, int steps) {
  train::PsmSampler sampler(frames.size(), 1);
  const auto epoch = sampler.epoch_pairs(1);
  const std::int64_t full = std::int64_t(epoch.size()) / pairs;
  if (full < 2) throw std::runtime_error("too few frames for two batches of " + std::to_string(pairs) + " pairs");
  train::make_batch(frames, epoch, pairs, 0, 1, 1, true);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) train::make_batch(frames, epoch, pairs, 1 + i % (full - 1), 1, 1, true);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s PRESET PAIRS THREADS STEPS [VGG_WEIGHTS] [--trainer] [--bf16] [--loader[=FRAMES_H5]]\n", argv[0]);
    return 2;
  }
  const std::string preset = argv[1];
  const int pairs = std::stoi(argv[2]), threads = std::stoi(argv[3]), steps = std::stoi(argv[4]);
  std::string vgg;
  bool trainer = false, loader = false;
  std::string loader_frames;
  model::Precision precision = model::Precision::fp32;
  for (int i = 5; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trainer") == 0) trainer = true;
    else if (std::strcmp(argv[i], "--bf16") == 0) precision = model::Precision::bf16;
    else if (std::strncmp(argv[i], "--loader", 8) == 0 && (argv[i][8] == 0 || argv[i][8] == '='))
      loader = true, loader_frames = argv[i][8] ? argv[i] + 9 : "";
    else vgg = argv[i];
  }
  torch::set_num_threads(threads);
  psmflow::train::use_cpu_block_cache();  // as psmflow train does
  spdlog::set_level(spdlog::level::warn);
  if (loader) try {
    const auto frames = loader_frames.empty() ? test::synthetic_frames(2 * pairs * (steps + 1))
                                              : train::load_frames(loader_frames, true);
    const double dt = time_loader(frames, pairs, steps);
    std::printf("psmflow loader: %s (%lld frames), batch %d pairs, augmentation on, one thread: %.1f ms/batch, %.0f img/s\n",
                loader_frames.empty() ? "drawn frames" : loader_frames.c_str(), (long long)frames.size(), pairs,
                dt * 1000, 2 * pairs / dt);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step --loader: %s\n", e.what());
    return 1;
  }
  auto net = make_net(preset, vgg);
  const double dt =
      trainer ? time_trainer(std::move(net), pairs, steps, precision) : time_steps(net, pairs, steps, precision);
  std::printf("psmflow %s: preset %s batch %d pairs, %d threads, perceptual %s, %s: %.0f ms/step, %.2f img/s, peak RSS "
              "%.0f MB\n",
              trainer ? "trainer" : "step", preset.c_str(), pairs, threads, vgg.empty() ? "off" : "on",
              model::precision_name(precision), dt * 1000, 2 * pairs / dt, peak_rss_mb());
  return 0;
}
