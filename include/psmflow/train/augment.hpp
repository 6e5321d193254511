// Image preparation on uint8 RGB frames (METHOD.md §4), in C++ with OpenCV: no image files.
// Training: random resized crop (scale and ratio 0.95–1.05) to 64, colour jitter (brightness,
// contrast, saturation 0.05, hue 0.01) with p = 0.8, horizontal flip p = 0.5; evaluation:
// resize + centre crop. Both end in ImageNet normalisation into CHW float.
#pragma once
#include <cstdint>
#include <random>

namespace psmflow::train {

inline constexpr int kImageSize = 64;
inline constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
inline constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};

struct AugmentParams {
  double scale_min = 0.95, scale_max = 1.05;
  double ratio_min = 0.95, ratio_max = 1.05;
  double jitter_p = 0.8;
  double brightness = 0.05, contrast = 0.05, saturation = 0.05, hue = 0.01;
  double flip_p = 0.5;
};

// src: size*size*3 RGB bytes; out: 3*64*64 floats (CHW, normalised). force_flip flips after
// the random choices (the GM's "same frame, mirrored" pairs).
void augment_image(const std::uint8_t* src, int size, std::mt19937_64& rng, float* out,
                   const AugmentParams& p = {}, bool force_flip = false);
void eval_image(const std::uint8_t* src, int size, float* out, bool flip = false);

}  // namespace psmflow::train
