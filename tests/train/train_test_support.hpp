// Shared pieces of the training tests: synthetic faces, frames.h5 files, a small stand-in network
// for the loop (tests only; the real network is the model part's), and a child-process runner
// that can be signalled.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "psmflow/train/frames.hpp"
#include "psmflow/train/net.hpp"
#include "synthetic_face.hpp"

namespace psmflow::test {

train::MemoryFrames synthetic_frames(int n, int size = 64);
// frames.h5 with n frames; every `undetected_every`-th frame (if > 0) has detected = 0.
void write_frames_h5(const std::filesystem::path& file, int n, int undetected_every = 0);

// Two convolutions with generator noise in between, so resume must restore the RNG exactly.
struct StandInImpl : torch::nn::Module {
  StandInImpl();
  torch::nn::Conv2d enc{nullptr}, dec{nullptr};
};
TORCH_MODULE(StandIn);

class StandInNet : public train::TrainableNet {
 public:
  StandInNet();
  torch::nn::Module& module() override { return *net_; }
  model::LossTerms loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight) override;
  std::vector<torch::Tensor> trainable_parameters() override { return net_->parameters(); }
  model::Embedding embed(const torch::Tensor& x) override;
  std::vector<torch::Tensor> sample_rows(const torch::Tensor& x) override;
  std::string describe() const override { return "stand-in"; }
  int calls = 0;
  int stop_after_calls = -1;  // request_stop(SIGTERM) after this many loss() calls
  int nan_at_call = -1;       // the loss of this call (1-based) is NaN

 private:
  StandIn net_;
};

// A child process running the psmflow binary, output to log; signal it, wait for its exit code.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::filesystem::path& log);
  ~Child();
  void signal(int sig);
  int wait();  // exit code, or 128 + signal
  bool running();
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int status_ = -1;
};

// Rows of losses.csv without the wall-time columns (seconds, images/s), which differ between runs.
std::vector<std::string> loss_columns(const std::filesystem::path& csv);

}  // namespace psmflow::test
