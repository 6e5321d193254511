// The loss terms of METHOD.md §3, each a plain function of tensors (tested against
// shared/testvectors/loss.json).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace psmflow::model {

torch::Tensor l1(const torch::Tensor& a, const torch::Tensor& b);  // mean |a − b|
// Gram(F) = F·Fᵀ/(h·w) per sample: [n,c,h,w] → [n,c,c].
torch::Tensor gram(const torch::Tensor& features);
// MSE(Gram(a), Gram(b)).
torch::Tensor gram_mse(const torch::Tensor& a, const torch::Tensor& b);
// Perceptual term for one layer: features of k stacked groups [k·n,c,h,w] against the Gram
// matrices of the target [n,c,c]; equals MSE(Gram(features), Gram(cat[target]×k)) without
// computing the target k times.
torch::Tensor gram_mse_repeated(const torch::Tensor& features, const torch::Tensor& target_gram);
// The same from Gram matrices [k·n,c,c] of the k groups.
torch::Tensor gram_mse_to_target(const torch::Tensor& grams, const torch::Tensor& target_gram);
// SSIM(x, y): 11×11 Gaussian window σ=1.5, per channel, zero padding 5, C1=0.01², C2=0.03²,
// mean over everything.
torch::Tensor ssim(const torch::Tensor& x, const torch::Tensor& y);
// Sym(z) = mean |left half − mirrored right half| over the width.
torch::Tensor sym(const torch::Tensor& z);

// The weighted total: L = 0.01·perc + pixel + 1.5·sym + 5·ssim.
torch::Tensor total_loss(const torch::Tensor& perc, const torch::Tensor& pixel, const torch::Tensor& sym_term,
                         const torch::Tensor& ssim_term);

}  // namespace psmflow::model
