// What the trainer needs from a network: a module to save, a loss for a pair batch, parameters to
// optimise, embeddings and sample images. FaceCycleNet adapts model::FaceCycle; tests use tiny
// stand-ins. Checkpoints hold the module's state under "model" (see checkpoint.hpp).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "psmflow/config/config.hpp"
#include "psmflow/model/facecycle.hpp"

namespace psmflow::train {

class TrainableNet {
 public:
  virtual ~TrainableNet() = default;
  virtual torch::nn::Module& module() = 0;
  virtual model::LossTerms loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight) = 0;
  virtual std::vector<torch::Tensor> trainable_parameters() = 0;
  virtual model::Embedding embed(const torch::Tensor& x) = 0;
  // Rows of a sample grid for normalised inputs x [n,3,64,64], each [n,3,64,64] normalised:
  // the input first, then whatever the net can show (de-expressed face, reconstruction).
  virtual std::vector<torch::Tensor> sample_rows(const torch::Tensor& x) { return {x}; }
  virtual std::string describe() const = 0;
};

class FaceCycleNet : public TrainableNet {
 public:
  explicit FaceCycleNet(model::FaceCycle net) : net_(std::move(net)) {}
  torch::nn::Module& module() override { return *net_; }
  model::LossTerms loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight) override {
    return net_->loss(x0, x1, neutral_weight);
  }
  std::vector<torch::Tensor> trainable_parameters() override { return net_->trainable_parameters(); }
  model::Embedding embed(const torch::Tensor& x) override { return net_->embed(x); }
  // Input, de-expressed face and reconstruction; each frame is paired with the next one.
  std::vector<torch::Tensor> sample_rows(const torch::Tensor& x) override;
  std::string describe() const override;
  model::FaceCycle& net() { return net_; }

 private:
  model::FaceCycle net_;
};

// The network of cfg.model with the weights a fresh run gets from cfg.run.seed (torch::manual_seed
// before construction), VGG weights loaded when configured, moved to `device`.
std::unique_ptr<FaceCycleNet> make_facecycle_net(const Config& cfg, const torch::Device& device);

// Loads weights for transfer learning or embedding: a psmflow checkpoint (model part only) or the
// original code's PyTorch file. Throws StageError naming the file when it does not fit.
void load_weights(FaceCycleNet& net, const std::filesystem::path& file);

// Resolves [run] device: cpu, cuda (UsageError when not built for it or no GPU), auto; a CUDA
// device is the GPU of the rank with this node-local rank (core/placement.hpp: gpu_for_rank).
// On a GPU it also lets cuDNN time its convolution algorithms once per shape and keep the fastest
// (training's shapes are fixed: 64x64, one batch size, a shorter last batch).
torch::Device choose_device(const std::string& device, int local_rank = 0);
// Sets LibTorch's intra-op threads to threads_per_rank(configured, ranks_on_node)
// (core/placement.hpp) and returns that count.
int apply_threads(int configured, int ranks_on_node = 1);

}  // namespace psmflow::train
