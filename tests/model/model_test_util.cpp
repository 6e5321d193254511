#include "model_test_util.hpp"

#include <cmath>
#include <fstream>

#include "support/test_support.hpp"

namespace psmflow::test {

torch::Tensor pattern(int64_t B, int64_t C, int64_t H, int64_t W, double phase, double (*fn)(double), double scale) {
  auto t = torch::empty({B, C, H, W}, torch::kDouble);
  auto a = t.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          a[b][c][h][w] = scale * fn(0.005 * (b + 1) * (h * W + w) + 0.7 * c + phase + 0.03 * h - 0.02 * w);
  return t.to(torch::kFloat);
}

std::string python_with_torch() {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    if (run_shell(std::string(py) + " -c 'import torch' 2>/dev/null").exit_code == 0) return py;
  }
  return {};
}

void save_tensor_dict(const std::filesystem::path& file,
                      const std::vector<std::pair<std::string, torch::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> dict;
  for (auto& [k, t] : items) dict.insert(k, t);
  auto bytes = torch::pickle_save(c10::IValue(dict));
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::pair<std::string, torch::Tensor>> random_vgg_weights() {
  const int idx[] = {0, 2, 5, 7, 10, 12, 14, 16, 19};
  const int64_t io[][2] = {{3, 64},    {64, 64},   {64, 128},  {128, 128}, {128, 256},
                           {256, 256}, {256, 256}, {256, 256}, {256, 512}};
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (int i = 0; i < 9; ++i) {
    const std::string k = "features." + std::to_string(idx[i]);
    out.emplace_back(k + ".weight", torch::randn({io[i][1], io[i][0], 3, 3}) * std::sqrt(2.0 / (9 * io[i][0])));
    out.emplace_back(k + ".bias", torch::randn({io[i][1]}) * 0.1);
  }
  return out;
}

}  // namespace psmflow::test
