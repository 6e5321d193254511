#include "psmflow/video/shrink.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

namespace psmflow::video {
namespace {

// The source cells of each output pixel (or row), in order from `first`, and their weights
// (OpenCV's computeResizeAreaTab), padded with weight 0 to `taps` cells each: adding 0 times a
// pixel changes no sum, and the loops need no per-pixel length.
struct Cells {
  int taps = 0;
  std::vector<int> first;
  std::vector<float> weight;  // taps per output pixel
};

Cells area_cells(int source, int out, double scale) {
  Cells c;
  c.taps = int(std::ceil(scale)) + 1;
  c.first.resize(static_cast<std::size_t>(out));
  c.weight.assign(static_cast<std::size_t>(out * c.taps), 0.f);
  for (int d = 0; d < out; ++d) {
    const double from = d * scale, to = from + scale, width = std::min(scale, source - from);
    int first = int(std::ceil(from)), last = std::min(int(std::floor(to)), source - 1);
    first = std::min(first, last);
    float* w = &c.weight[static_cast<std::size_t>(d * c.taps)];
    c.first[static_cast<std::size_t>(d)] = first - (first - from > 1e-3 ? 1 : 0);
    if (first - from > 1e-3) *w++ = float((first - from) / width);
    for (int s = first; s < last; ++s) *w++ = float(1.0 / width);
    if (to - last > 1e-3) *w = float(std::min(std::min(to - last, 1.), width) / width);
  }
  return c;
}

// A source row's horizontal sums, each in the order OpenCV adds them into its row buffer.
void row_sums(const std::uint8_t* row, int width, const Cells& columns, std::vector<float>& pixels,
              std::vector<float>& out) {
  for (int x = 0; x < width; ++x) pixels[static_cast<std::size_t>(x)] = row[x];  // then the padding's zeros
  const int taps = columns.taps;
  for (std::size_t x = 0; x < out.size(); ++x) {
    const float* p = &pixels[static_cast<std::size_t>(columns.first[x])];
    const float* w = &columns.weight[x * static_cast<std::size_t>(taps)];
    float sum = 0;
    for (int k = 0; k < taps; ++k) sum += p[k] * w[k];
    out[x] = sum;
  }
}

}  // namespace

void shrink_area(const cv::Mat& src, cv::Mat& dst, double f) {
  const cv::Size size(cv::saturate_cast<int>(src.cols * f), cv::saturate_cast<int>(src.rows * f));
  const double scale = 1. / f;
  const int whole = cv::saturate_cast<int>(scale);
  if (src.type() != CV_8UC1 || size.empty() || size == src.size() || !(f > 0 && f <= 1) ||
      std::abs(scale - whole) < DBL_EPSILON) {
    cv::resize(src, dst, cv::Size(), f, f, cv::INTER_AREA);
    return;
  }
  const Cells columns = area_cells(src.cols, size.width, scale), rows = area_cells(src.rows, size.height, scale);
  cv::Mat out(size, CV_8UC1);
  std::vector<float> pixels(static_cast<std::size_t>(src.cols + columns.taps), 0.f);
  std::vector<float> line(static_cast<std::size_t>(size.width)), sum(line.size());
  int summed = -1;  // the source row in `line`: a row shared by two output rows is summed once
  for (int y = 0; y < size.height; ++y) {
    const std::size_t row = static_cast<std::size_t>(y);
    for (int k = 0; k < rows.taps; ++k) {
      const float w = rows.weight[row * static_cast<std::size_t>(rows.taps) + static_cast<std::size_t>(k)];
      const int sy = rows.first[row] + k;
      if (k > 0 && w == 0) break;  // the padding
      if (sy != summed) row_sums(src.ptr<std::uint8_t>(sy), src.cols, columns, pixels, line);
      summed = sy;
      for (std::size_t x = 0; x < line.size(); ++x) sum[x] = k == 0 ? w * line[x] : sum[x] + w * line[x];
    }
    std::uint8_t* d = out.ptr<std::uint8_t>(y);
    for (std::size_t x = 0; x < sum.size(); ++x) d[x] = cv::saturate_cast<std::uint8_t>(sum[x]);
  }
  dst = out;
}

}  // namespace psmflow::video
