#include "psmflow/train/augment.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace psmflow::train {
namespace {

// Uniform draws written out (not std distributions) so the same seed gives the same images with
// any standard library.
double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
}
int uniform_int(std::mt19937_64& rng, int lo, int hi) {  // inclusive
  return lo + static_cast<int>(rng() % static_cast<unsigned long long>(hi - lo + 1));
}

// torchvision RandomResizedCrop.get_params: 10 tries, else the whole (square) image.
cv::Rect random_crop(int size, std::mt19937_64& rng, const AugmentParams& p) {
  double area = double(size) * size;
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * uniform(rng, p.scale_min, p.scale_max);
    double aspect = std::exp(uniform(rng, std::log(p.ratio_min), std::log(p.ratio_max)));
    int w = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    int h = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w > 0 && h > 0 && w <= size && h <= size) {
      int y = uniform_int(rng, 0, size - h);
      int x = uniform_int(rng, 0, size - w);
      return {x, y, w, h};
    }
  }
  return {0, 0, size, size};
}

cv::Mat gray_of(const cv::Mat& rgb) {
  cv::Mat g;
  cv::cvtColor(rgb, g, cv::COLOR_RGB2GRAY);
  return g;
}

void blend_clamp(cv::Mat& img, const cv::Mat& other, double factor) {  // factor*img + (1-factor)*other
  cv::addWeighted(img, factor, other, 1.0 - factor, 0.0, img);
  cv::min(img, 1.0, img);
  cv::max(img, 0.0, img);
}

void adjust_hue(cv::Mat& img, double shift) {
  cv::Mat hsv;
  cv::cvtColor(img, hsv, cv::COLOR_RGB2HSV);  // float: H in degrees
  for (int y = 0; y < hsv.rows; ++y)
    for (auto* px = hsv.ptr<cv::Vec3f>(y), *end = px + hsv.cols; px != end; ++px) {
      float h = (*px)[0] + static_cast<float>(shift * 360.0);
      (*px)[0] = h < 0 ? h + 360.f : (h >= 360.f ? h - 360.f : h);
    }
  cv::cvtColor(hsv, img, cv::COLOR_HSV2RGB);
}

// ColorJitter: the four adjustments in a random order, factors drawn before applying.
void color_jitter(cv::Mat& img, std::mt19937_64& rng, const AugmentParams& p) {
  std::array<int, 4> order = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[uniform_int(rng, 0, i)]);
  double b = uniform(rng, 1 - p.brightness, 1 + p.brightness);
  double c = uniform(rng, 1 - p.contrast, 1 + p.contrast);
  double s = uniform(rng, 1 - p.saturation, 1 + p.saturation);
  double h = uniform(rng, -p.hue, p.hue);
  for (int op : order) {
    if (op == 0) {
      blend_clamp(img, cv::Mat::zeros(img.size(), img.type()), b);
    } else if (op == 1) {
      double mean = cv::mean(gray_of(img))[0];
      blend_clamp(img, cv::Mat(img.size(), img.type(), cv::Scalar::all(mean)), c);
    } else if (op == 2) {
      cv::Mat g3;
      cv::cvtColor(gray_of(img), g3, cv::COLOR_GRAY2RGB);
      blend_clamp(img, g3, s);
    } else {
      adjust_hue(img, h);
    }
  }
}

void normalise_chw(const cv::Mat& rgb01, float* out, bool flip) {
  const int n = kImageSize;
  for (int y = 0; y < n; ++y) {
    const cv::Vec3f* row = rgb01.ptr<cv::Vec3f>(y);
    for (int x = 0; x < n; ++x) {
      const cv::Vec3f& px = row[flip ? n - 1 - x : x];
      for (int c = 0; c < 3; ++c) out[(c * n + y) * n + x] = (px[c] - kMean[c]) / kStd[c];
    }
  }
}

cv::Mat to_float(const cv::Mat& rgb8) {
  cv::Mat f;
  rgb8.convertTo(f, CV_32FC3, 1.0 / 255.0);
  return f;
}

}  // namespace

void augment_image(const std::uint8_t* src, int size, std::mt19937_64& rng, float* out, const AugmentParams& p,
                   bool force_flip) {
  cv::Mat in(size, size, CV_8UC3, const_cast<std::uint8_t*>(src));
  cv::Mat crop;
  cv::resize(in(random_crop(size, rng, p)), crop, cv::Size(kImageSize, kImageSize), 0, 0, cv::INTER_LINEAR);
  cv::Mat img = to_float(crop);
  if (uniform(rng, 0, 1) < p.jitter_p) color_jitter(img, rng, p);
  bool flip = uniform(rng, 0, 1) < p.flip_p;
  normalise_chw(img, out, flip != force_flip);
}

void eval_image(const std::uint8_t* src, int size, float* out, bool flip) {
  cv::Mat in(size, size, CV_8UC3, const_cast<std::uint8_t*>(src));
  cv::Mat img = in;
  if (size != kImageSize) cv::resize(in, img, cv::Size(kImageSize, kImageSize), 0, 0, cv::INTER_LINEAR);
  normalise_chw(to_float(img), out, flip);  // square frames: the centre crop is the whole resized frame
}

}  // namespace psmflow::train
