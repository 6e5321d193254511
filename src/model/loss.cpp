#include "psmflow/model/loss.hpp"

#include "psmflow/model/precision.hpp"

namespace psmflow::model {

// Every term reduces in float32, also under bf16 autocast (precision.hpp): a bf16 mean over a
// batch keeps 3 significant digits, and the SSIM statistics and Gram products lose more.
torch::Tensor l1(const torch::Tensor& a, const torch::Tensor& b) {
  Fp32Region fp32;
  return (as_fp32(a) - as_fp32(b)).abs().mean();
}

torch::Tensor gram(const torch::Tensor& features_in) {
  Fp32Region fp32;
  auto features = as_fp32(features_in);
  const auto n = features.size(0), c = features.size(1), hw = features.size(2) * features.size(3);
  // Position-major rows [n, hw, c] are a free view of channels-last activations (the model's
  // layout); [n, c, hw] would copy every feature map forward and backward.
  auto rows = features.permute({0, 2, 3, 1}).reshape({n, hw, c});
  return torch::bmm(rows.transpose(1, 2), rows) / static_cast<double>(hw);
}

torch::Tensor gram_mse(const torch::Tensor& a, const torch::Tensor& b) { return (gram(a) - gram(b)).pow(2).mean(); }

torch::Tensor gram_mse_repeated(const torch::Tensor& features, const torch::Tensor& target_gram) {
  return gram_mse_to_target(gram(features), target_gram);
}

torch::Tensor gram_mse_to_target(const torch::Tensor& grams, const torch::Tensor& target_gram) {
  const auto n = target_gram.size(0), c = target_gram.size(1);
  return (grams.view({-1, n, c, c}) - target_gram.unsqueeze(0)).pow(2).mean();
}

namespace {
// The 11×11 Gaussian window (σ = 1.5) built as the original does, in float.
torch::Tensor gaussian_window(const torch::TensorOptions& options) {
  auto r = torch::arange(11, torch::kFloat) - 5.0;
  auto g = torch::exp(-(r * r) / (2 * 1.5 * 1.5));
  g = g / g.sum();
  return torch::mm(g.view({11, 1}), g.view({1, 11})).to(options);
}
}  // namespace

torch::Tensor ssim(const torch::Tensor& x_in, const torch::Tensor& y_in) {
  Fp32Region fp32;
  auto x = as_fp32(x_in), y = as_fp32(y_in);
  const auto c = x.size(1);
  // One grouped convolution for the five local statistics (same maths as five separate ones).
  auto stacked = torch::cat({x, y, x * x, y * y, x * y}, 1);
  auto window = gaussian_window(x.options()).expand({5 * c, 1, 11, 11}).contiguous();
  auto m = torch::conv2d(stacked, window, {}, 1, 5, 1, 5 * c).split(c, 1);
  auto mx = m[0], my = m[1];
  auto sx = m[2] - mx * mx, sy = m[3] - my * my, sxy = m[4] - mx * my;
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  auto num = (2 * mx * my + c1) * (2 * sxy + c2);
  auto den = (mx * mx + my * my + c1) * (sx + sy + c2);
  return (num / den).mean();
}

torch::Tensor sym(const torch::Tensor& z_in) {
  Fp32Region fp32;
  auto z = as_fp32(z_in);
  const auto half = z.size(3) / 2;
  return (z.slice(3, 0, half) - z.slice(3, z.size(3) - half).flip({3})).abs().mean();
}

torch::Tensor total_loss(const torch::Tensor& perc, const torch::Tensor& pixel, const torch::Tensor& sym_term,
                         const torch::Tensor& ssim_term) {
  return 0.01 * perc + pixel + 1.5 * sym_term + 5 * ssim_term;
}

}  // namespace psmflow::model
