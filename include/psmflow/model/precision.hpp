// Mixed precision for training ([train.psm] / [train.gm] precision): "fp32" computes everything
// in float32; "bf16" runs the convolutions, matrix products and linear layers in bfloat16
// (LibTorch autocast, CPU and CUDA) while the weights, their gradients, Adam's state and every
// loss reduction stay float32 (see docs/train.md for what was measured).
#pragma once
#include <torch/torch.h>

#include <string>

namespace psmflow::model {

enum class Precision { fp32, bf16 };

// "fp32" | "bf16"; anything else is a UsageError naming the value.
Precision precision_by_name(const std::string& name);
const char* precision_name(Precision p);

// True when this CPU computes bf16 natively (/proc/cpuinfo flag avx512_bf16 or amx_bf16).
// Without it, bf16 runs through oneDNN's emulation: correct, but slower than fp32.
bool cpu_has_native_bf16();

// Autocast to bf16 on `device`'s type for the scope's lifetime (no-op for fp32). Open it around
// the forward pass and the loss only; backward may run outside it.
class PrecisionScope {
 public:
  PrecisionScope(Precision p, const torch::Device& device);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  bool active_ = false;
  at::DeviceType device_type_ = at::kCPU;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

// Inside a PrecisionScope: the loss reductions run in float32 on float32 copies of their inputs.
// float32 inputs pass through unchanged, so fp32 results are bit-identical with or without it.
class Fp32Region {
 public:
  Fp32Region() : no_autocast_(c10::autocast_dispatch_keyset) {}

 private:
  c10::impl::ExcludeDispatchKeyGuard no_autocast_;
};
torch::Tensor as_fp32(const torch::Tensor& t);

}  // namespace psmflow::model
