// The device checks of tools/gpu-check (issue 13), in one process, one JSON object on stdout:
//   equivalence  one training step on DEVICE against the same step on the CPU (same weights and
//                inputs, generator noise off, TF32 off): every loss term and every gradient
//   speed        img/s of the training step at each batch size, fp32 (TF32 off and, on CUDA, on)
//                and bf16, with the memory peak of each
//   profile      the ten operators with the most time in one fp32 step (CUDA time on a GPU)
//   resume       checkpoint, fresh process state, restore: the loss sequence after the checkpoint
//                equals the uninterrupted one (CPU and CUDA generator states restored)
//   data_path    img/s of steps fed from uint8 frames in memory (convert, normalise, copy)
//   nccl         the gradient-sync engine over a one-rank NCCL communicator (no MPI): every
//                bucket's allreduce gives back the gradient it was given, and the path overlapped
//                with backward() gives what the plain path gives (CUDA builds, --device cuda)
// Usage: gpu_check DEVICE(cpu|cuda) PRESET PAIRS(comma list) STEPS THREADS OUT.json
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "psmflow/core/fs.hpp"
#include "psmflow/model/facecycle.hpp"
#include "psmflow/model/precision.hpp"
#include "psmflow/train/checkpoint.hpp"

#ifdef PSMFLOW_USE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>

#include "psmflow/collectives/nccl_transport.hpp"
#endif

using namespace psmflow;
using json = nlohmann::json;
using model::Precision;

namespace {

struct Setup {
  torch::Device device = torch::kCPU;
  std::string preset;
  int steps = 3;
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

void set_tf32(bool on) {
  at::globalContext().setAllowTF32CuBLAS(on);
  at::globalContext().setAllowTF32CuDNN(on);
}

// For the checks that compare two runs: float32 throughout, and the same cuDNN algorithm each time.
void reproducible_kernels() {
  set_tf32(false);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
}

double peak_memory_mb(const torch::Device& d) {
#ifdef PSMFLOW_USE_CUDA
  if (d.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index() < 0 ? 0 : d.index());
    return stats.allocated_bytes[0].peak / 1048576.0;
  }
#endif
  (void)d;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // the process's peak RSS: CPU memory is not reset between runs
}

void reset_peak_memory(const torch::Device& d) {
#ifdef PSMFLOW_USE_CUDA
  if (d.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(d.index() < 0 ? 0 : d.index());
#endif
  (void)d;
}

model::FaceCycle make_net(const Setup& s, std::uint64_t seed, const torch::Device& device) {
  torch::manual_seed(seed);
  model::FaceCycle net(model::preset_by_name(s.preset));
  net->to(device);
  return net;
}

// Inputs drawn from their own generator, so that they do not move the default generators.
std::pair<torch::Tensor, torch::Tensor> inputs(int pairs, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return {torch::randn({pairs, 3, 64, 64}, gen), torch::randn({pairs, 3, 64, 64}, gen)};
}

model::LossTerms forward(model::FaceCycle& net, Precision p, const torch::Tensor& x0, const torch::Tensor& x1) {
  model::PrecisionScope mixed(p, x0.device());
  return net->loss(x0, x1, 1.0);
}

double train_step(model::FaceCycle& net, torch::optim::Adam& adam, Precision p, const torch::Tensor& x0,
                  const torch::Tensor& x1) {
  model::drop_gradients(net->trainable_parameters());
  auto terms = forward(net, p, x0, x1);
  terms.total.backward();
  adam.step();
  return terms.total.item<double>();
}

torch::optim::Adam make_adam(model::FaceCycle& net) {
  return torch::optim::Adam(net->trainable_parameters(), torch::optim::AdamOptions(8e-5).betas({0.5, 0.999}));
}

double relative(const torch::Tensor& a, const torch::Tensor& b) {
  auto ca = a.to(torch::kCPU, torch::kDouble), cb = b.to(torch::kCPU, torch::kDouble);
  return ((ca - cb).norm() / (cb.norm() + 1e-30)).item<double>();
}

// Tolerances for float32 on two devices: different kernels sum in different orders.
constexpr double kLossTol = 1e-4, kGradTol = 1e-3;

json equivalence(const Setup& s) {
  reproducible_kernels();
  auto [x0, x1] = inputs(2, 11);
  auto cpu = make_net(s, 5, torch::kCPU), dev = make_net(s, 5, s.device);
  cpu->set_noise_enabled(false);
  dev->set_noise_enabled(false);
  auto tc = forward(cpu, Precision::fp32, x0, x1), td = forward(dev, Precision::fp32, x0.to(s.device), x1.to(s.device));
  tc.total.backward();
  td.total.backward();
  json terms;
  double worst_loss = 0;
  for (auto [name, a, b] : {std::tuple{"total", td.total, tc.total}, {"pixel", td.pixel, tc.pixel},
                            {"perc", td.perc, tc.perc}, {"ssim", td.ssim, tc.ssim}, {"sym", td.sym, tc.sym}}) {
    const double r = relative(a, b);
    terms[name] = {{"cpu", b.item<double>()}, {"device", a.item<double>()}, {"relative", r}};
    worst_loss = std::max(worst_loss, r);
  }
  auto pc = cpu->named_parameters(), pd = dev->named_parameters();
  double worst_grad = 0;
  std::string worst_name;
  for (auto& item : pc) {
    if (!item.value().requires_grad()) continue;
    const double r = relative(pd[item.key()].grad(), item.value().grad());
    if (r > worst_grad) worst_grad = r, worst_name = item.key();
  }
  return {{"terms", terms},
          {"worst_loss_relative", worst_loss},
          {"worst_gradient_relative", worst_grad},
          {"worst_gradient", worst_name},
          {"tolerance", {{"loss", kLossTol}, {"gradient", kGradTol}}},
          {"tf32", false},
          {"pass", worst_loss <= kLossTol && worst_grad <= kGradTol}};
}

// cudnn_benchmark: as the trainer sets it on a GPU (train::choose_device), unless measuring without.
json speed_one(const Setup& s, int pairs, Precision p, bool tf32, bool cudnn_benchmark = true) {
  cudnn_benchmark = cudnn_benchmark && s.device.is_cuda();
  set_tf32(tf32);
  at::globalContext().setBenchmarkCuDNN(cudnn_benchmark);
  auto net = make_net(s, 1, s.device);
  auto adam = make_adam(net);
  auto [a, b] = inputs(pairs, 3);
  auto x0 = a.to(s.device), x1 = b.to(s.device);
  train_step(net, adam, p, x0, x1);  // warm-up: allocator, kernel choice
  sync(s.device);
  reset_peak_memory(s.device);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < s.steps; ++i) train_step(net, adam, p, x0, x1);
  sync(s.device);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / s.steps;
  return {{"pairs", pairs},
          {"precision", model::precision_name(p)},
          {"tf32", tf32},
          {"cudnn_benchmark", cudnn_benchmark},
          {"ms_per_step", dt * 1000},
          {"images_per_s", 2 * pairs / dt},
          {"peak_memory_mb", peak_memory_mb(s.device)}};
}

json speed(const Setup& s, const std::vector<int>& batch_pairs) {
  json runs = json::array();
  for (int pairs : batch_pairs) {
    runs.push_back(speed_one(s, pairs, Precision::fp32, false));
    if (s.device.is_cuda()) runs.push_back(speed_one(s, pairs, Precision::fp32, true));
    runs.push_back(speed_one(s, pairs, Precision::bf16, s.device.is_cuda()));
  }
  // What letting cuDNN choose its algorithms is worth, at the largest batch.
  if (s.device.is_cuda()) runs.push_back(speed_one(s, batch_pairs.back(), Precision::fp32, true, false));
  set_tf32(false);
  at::globalContext().setBenchmarkCuDNN(false);
  return runs;
}

// Operators by inclusive time over one step, from the legacy profiler's push/pop events.
json profile(const Setup& s, int pairs) {
  using namespace torch::autograd::profiler;
  auto net = make_net(s, 1, s.device);
  auto adam = make_adam(net);
  auto [a, b] = inputs(pairs, 3);
  auto x0 = a.to(s.device), x1 = b.to(s.device);
  train_step(net, adam, Precision::fp32, x0, x1);
  const bool cuda = s.device.is_cuda();
  using torch::profiler::impl::ProfilerConfig;
  using torch::profiler::impl::ProfilerState;
  enableProfilerLegacy(ProfilerConfig(cuda ? ProfilerState::CUDA : ProfilerState::CPU));
  train_step(net, adam, Precision::fp32, x0, x1);
  sync(s.device);
  auto lists = disableProfilerLegacy();
  std::map<std::string, double> ms;
  for (auto& list : lists) {
    std::vector<const LegacyEvent*> open;
    for (auto& e : list) {
      if (e.kind() == EventKind::PushRange) open.push_back(&e);
      if (e.kind() != EventKind::PopRange || open.empty()) continue;
      const LegacyEvent* start = open.back();
      open.pop_back();
      if (!open.empty()) continue;  // only top-level operators: their time includes their children
      ms[start->name()] += (cuda && start->hasCuda() ? start->cudaElapsedUs(e) : start->cpuElapsedUs(e)) / 1000.0;
    }
  }
  std::vector<std::pair<double, std::string>> sorted;
  for (auto& [name, t] : ms) sorted.push_back({t, name});
  std::sort(sorted.rbegin(), sorted.rend());
  json top = json::array();
  for (size_t i = 0; i < sorted.size() && i < 10; ++i) top.push_back({{"op", sorted[i].second}, {"ms", sorted[i].first}});
  return {{"pairs", pairs}, {"clock", cuda ? "cuda" : "cpu"}, {"top_ops", top}};
}

// Losses of `steps` steps with generator noise on, fed from inputs seeded by step number.
std::vector<double> run_steps(model::FaceCycle& net, torch::optim::Adam& adam, const torch::Device& d, int first,
                              int steps) {
  std::vector<double> out;
  for (int i = first; i < first + steps; ++i) {
    auto [a, b] = inputs(2, 100 + i);
    out.push_back(train_step(net, adam, Precision::fp32, a.to(d), b.to(d)));
  }
  return out;
}

json resume(const Setup& s, const std::filesystem::path& dir) {
  reproducible_kernels();
  const int before = 2, after = 3;
  auto net = make_net(s, 9, s.device);
  auto adam = make_adam(net);
  run_steps(net, adam, s.device, 0, before);
  const auto file = dir / "gpu_check_resume.pt";
  train::TrainState state;
  state.epoch = 1;
  save_checkpoint(file, *net, &adam, state);
  auto uninterrupted = run_steps(net, adam, s.device, before, after);

  torch::manual_seed(12345);  // the "new process" starts from another random state
  auto fresh = make_net(s, 77, s.device);
  auto fresh_adam = make_adam(fresh);
  auto loaded = train::load_checkpoint(file, *fresh, &fresh_adam);
  train::restore_generator(loaded, s.device);
  auto resumed = run_steps(fresh, fresh_adam, s.device, before, after);
  std::filesystem::remove(file);
  double worst = 0;
  for (int i = 0; i < after; ++i)
    worst = std::max(worst, std::abs(resumed[i] - uninterrupted[i]) / std::abs(uninterrupted[i]));
  // The CPU kernels are deterministic; CUDA's atomics (grid_sample backward) may not be.
  const double tol = s.device.is_cuda() ? 1e-5 : 0.0;
  return {{"uninterrupted", uninterrupted},
          {"resumed", resumed},
          {"exact", resumed == uninterrupted},
          {"worst_relative", worst},
          {"cuda_generator_saved", loaded.cuda_generator_state.defined()},
          {"pass", worst <= tol && (!s.device.is_cuda() || loaded.cuda_generator_state.defined())}};
}

json data_path(const Setup& s, int pairs) {
  const std::int64_t frames = 4 * pairs;
  auto gen = at::detail::createCPUGenerator(21);
  auto u8 = torch::randint(0, 256, {frames, 64, 64, 3}, gen, torch::kUInt8);
  if (s.device.is_cuda()) u8 = u8.pin_memory();
  auto mean = torch::tensor({0.485, 0.456, 0.406}).view({1, 3, 1, 1}).to(s.device);
  auto stdev = torch::tensor({0.229, 0.224, 0.225}).view({1, 3, 1, 1}).to(s.device);
  auto batch = [&](std::int64_t k) {  // frames k.. of the uint8 store -> normalised NCHW on device
    auto x = u8.narrow(0, (k * 2 * pairs) % frames, 2 * pairs).to(s.device, /*non_blocking=*/true);
    return ((x.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0) - mean) / stdev;
  };
  auto net = make_net(s, 1, s.device);
  auto adam = make_adam(net);
  auto step = [&](std::int64_t k) {
    auto x = batch(k);
    train_step(net, adam, Precision::fp32, x.narrow(0, 0, pairs), x.narrow(0, pairs, pairs));
  };
  step(0);
  sync(s.device);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < s.steps; ++i) step(i + 1);
  sync(s.device);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / s.steps;
  return {{"source", "memory (uint8 frames, no augmentation)"}, {"pairs", pairs}, {"images_per_s", 2 * pairs / dt}};
}

#ifdef PSMFLOW_USE_CUDA
// Every trainable parameter's gradient after one backward() of the paper loss, copied.
std::vector<torch::Tensor> gradients_of(model::FaceCycle& net, const torch::Tensor& x0, const torch::Tensor& x1) {
  model::drop_gradients(net->trainable_parameters());
  forward(net, Precision::fp32, x0, x1).total.backward();
  std::vector<torch::Tensor> out;
  for (auto& p : net->trainable_parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  return out;
}

double worst_relative(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].defined() && b[i].defined()) worst = std::max(worst, relative(a[i], b[i]));
  return worst;
}

json nccl(const Setup& s, int pairs) {
  if (!s.device.is_cuda()) return {{"run", false}, {"reason", "NCCL carries CUDA tensors: run with --device cuda"}};
  reproducible_kernels();
  collectives::GradSyncOptions opt;
  opt.bucket_bytes = 1u << 20;  // several buckets for every preset
  opt.timeout = std::chrono::minutes(1);
  auto net = make_net(s, 13, s.device);
  net->set_noise_enabled(false);
  auto params = net->trainable_parameters();
  auto [a, b] = inputs(pairs, 17);
  auto x0 = a.to(s.device), x1 = b.to(s.device);
  auto given = gradients_of(net, x0, x1);

  auto plain = collectives::make_grad_sync(collectives::make_lone_nccl_transport(0, opt.timeout), opt);
  std::vector<torch::Tensor> before;
  for (auto& p : params) before.push_back(p.detach().clone());
  plain->broadcast_parameters(params);
  std::vector<torch::Tensor> after;
  for (auto& p : params) after.push_back(p.detach());
  const double broadcast_change = worst_relative(after, before);
  plain->allreduce_gradients(params);  // on the gradients of `given`, still in .grad()
  std::vector<torch::Tensor> reduced;
  for (auto& p : params) reduced.push_back(p.grad());
  const double plain_change = worst_relative(reduced, given);
  const auto plain_stats = plain->last_step();

  auto overlapped = collectives::make_grad_sync(collectives::make_lone_nccl_transport(0, opt.timeout), opt);
  overlapped->overlap_backward(params);
  model::drop_gradients(params);
  forward(net, Precision::fp32, x0, x1).total.backward();
  overlapped->allreduce_gradients(params);
  std::vector<torch::Tensor> over;
  for (auto& p : params) over.push_back(p.grad());
  const double overlap_change = worst_relative(over, given);
  const auto stats = overlapped->last_step();
  // One rank: a sum is a copy, so the plain path must give back the very bits; two backward()
  // passes may differ in CUDA's atomics (grid_sample), hence the float32 tolerance there.
  const double tol = 1e-5;
  return {{"run", true},
          {"transport", "ncclAllReduce / ncclBroadcast, one rank (ncclCommInitRank without MPI)"},
          {"buckets", plain_stats.buckets},
          {"started_in_backward", stats.started_in_backward},
          {"broadcast_relative_change", broadcast_change},
          {"plain_relative_change", plain_change},
          {"overlapped_relative_change", overlap_change},
          {"tolerance", tol},
          {"pass", broadcast_change == 0 && plain_change == 0 && overlap_change <= tol && stats.started_in_backward > 0}};
}
#else
json nccl(const Setup&, int) {
  return {{"run", false}, {"reason", "built without CUDA (-DPSMFLOW_USE_CUDA=ON builds the NCCL transport)"}};
}
#endif

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s cpu|cuda PRESET PAIRS[,PAIRS...] STEPS THREADS OUT.json\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::err);
  Setup s;
  const std::string device = argv[1];
  if (device == "cuda" && !torch::cuda::is_available()) {
    std::fprintf(stderr, "gpu_check: --device cuda but no CUDA device is visible to this LibTorch\n");
    return 2;
  }
  s.device = device == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  s.preset = argv[2];
  const auto pairs = parse_list(argv[3]);
  s.steps = std::stoi(argv[4]);
  torch::set_num_threads(std::stoi(argv[5]));
  const std::filesystem::path out_path = argv[6];
  json out;
  out["device"] = device;
  out["preset"] = s.preset;
  out["libtorch"] = TORCH_VERSION;
  out["cpu_native_bf16"] = model::cpu_has_native_bf16();
  // Each check runs on its own: one that throws (a call this LibTorch lacks, a CUDA error) is
  // recorded with its message and the others still run. The file is rewritten after each check,
  // so a run stopped by its time limit still leaves what it measured. The profile, which uses
  // LibTorch's legacy profiler, goes last.
  const std::vector<std::pair<const char*, std::function<json()>>> checks = {
      {"equivalence", [&] { return equivalence(s); }},
      {"speed", [&] { return speed(s, pairs); }},
      {"resume", [&] { return resume(s, out_path.parent_path()); }},  // beside OUT.json: not shared with another run
      {"data_path", [&] { return data_path(s, pairs.front()); }},
      {"nccl", [&] { return nccl(s, pairs.front()); }},
      {"profile", [&] { return profile(s, pairs.front()); }}};
  for (const auto& [name, check] : checks) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      out[name] = check();
    } catch (const std::exception& e) {
      out[name] = {{"error", e.what()}, {"pass", false}};
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out["seconds"][name] = secs;
    write_file_atomic(out_path, out.dump(2) + "\n");
    const std::string outcome = out[name].contains("error") ? "FAILED: " + out[name]["error"].get<std::string>() : "done";
    std::fprintf(stderr, "gpu_check: %s %s (%.0f s)\n", name, outcome.c_str(), secs);
  }
  auto passed = [&](const char* name) { return out[name].value("pass", false); };
  const bool nccl_ok = !out["nccl"].value("run", true) || passed("nccl");
  return passed("equivalence") && passed("resume") && nccl_ok && !out["speed"].contains("error") ? 0 : 1;
}
