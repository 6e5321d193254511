// Helpers of the model tests: the test-vector input pattern and python3-torch scripts.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>

namespace psmflow::test {

// pattern(B,C,H,W,phase,fn)[b,c,h,w] = fn(0.005(b+1)(hW+w) + 0.7c + phase + 0.03h − 0.02w), in
// double, cast to float (shared/testvectors/loss.json "about"); `scale` multiplies in double.
torch::Tensor pattern(int64_t B, int64_t C, int64_t H, int64_t W, double phase, double (*fn)(double),
                      double scale = 1.0);

// Debian's python3 with torch, or empty when absent (tests then skip visibly).
std::string python_with_torch();

}  // namespace psmflow::test

namespace psmflow::test {
// Writes a dict of tensors with LibTorch's torch::pickle_save (a torch.save-compatible zip).
void save_tensor_dict(const std::filesystem::path& file,
                      const std::vector<std::pair<std::string, torch::Tensor>>& items);
// Random VGG19 weights for features.{0,2,...,19} (He-normal, so activations keep their scale).
std::vector<std::pair<std::string, torch::Tensor>> random_vgg_weights();
}  // namespace psmflow::test
