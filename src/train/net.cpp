#include "psmflow/train/net.hpp"

#include <spdlog/spdlog.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/placement.hpp"
#include "psmflow/train/checkpoint.hpp"

namespace psmflow::train {

std::string FaceCycleNet::describe() const {
  std::int64_t n = 0;
  for (const auto& p : net_->parameters())
    if (p.requires_grad()) n += p.numel();
  return "FaceCycle preset " + net_->preset().name + ", " + std::to_string(n) + " trainable parameters, perceptual term " +
         (net_->has_perceptual() ? "on" : "off (no VGG weights)");
}

std::vector<torch::Tensor> FaceCycleNet::sample_rows(const torch::Tensor& x) {
  const auto n = x.size(0);
  model::CycleImages c = net_->cycle_images(x, torch::roll(x, {1}, {0}));
  return {x, c.neutral.narrow(0, 0, n), c.reconstruction.narrow(0, 0, n)};
}

std::unique_ptr<FaceCycleNet> make_facecycle_net(const Config& cfg, const torch::Device& device) {
  torch::manual_seed(cfg.run.seed);
  model::FaceCycle net(model::preset_by_name(cfg.model.preset));
  if (!cfg.model.vgg_weights.empty()) net->load_vgg_weights(cfg.model.vgg_weights);
  net->to(device);
  return std::make_unique<FaceCycleNet>(std::move(net));
}

void load_weights(FaceCycleNet& net, const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) throw StageError(file.string() + ": no such checkpoint");
  if (is_psmflow_checkpoint(file)) {
    load_checkpoint(file, net.module(), nullptr);
  } else {
    load_pytorch_checkpoint(net.net(), file);
  }
  spdlog::info("loaded weights from {}", file.string());
}

torch::Device choose_device(const std::string& device, int local_rank) {
  if (device == "cpu") return torch::kCPU;
#ifdef PSMFLOW_USE_CUDA
  if (torch::cuda::is_available()) {
    at::globalContext().setBenchmarkCuDNN(true);
    auto gpu = gpu_for_rank(local_rank);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpu ? gpu->index : 0));
  }
  if (device == "cuda") throw UsageError("device = cuda but no CUDA device is visible");
  return torch::kCPU;
#else
  (void)local_rank;
  if (device == "cuda")
    throw UsageError(
        "device = cuda but this psmflow is a CPU build: rebuild it against a CUDA LibTorch with "
        "-DPSMFLOW_USE_CUDA=ON (README.md, \"GPU builds\")");
  return torch::kCPU;
#endif
}

int apply_threads(int configured, int ranks_on_node) {
  const int threads = threads_per_rank(configured, ranks_on_node);
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace psmflow::train
