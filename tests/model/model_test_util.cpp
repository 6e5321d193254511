#include "model_test_util.hpp"

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

}  // namespace psmflow::test
