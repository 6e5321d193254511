// Shrinking an 8-bit grey image by a factor, as cv::resize(src, dst, cv::Size(), f, f,
// cv::INTER_AREA) does: the same output size, source cells, weights and float arithmetic in the
// same order, so the values are OpenCV's (tests/video/test_shrink.cpp). The difference is where
// the sums live: OpenCV adds each source pixel's share into a row buffer in memory, one dependent
// load and store after another, and sums a source row twice where it straddles two output rows;
// here each output pixel's sum stays in a register and each row is summed once. A whole Megamind
// frame to the tracker's scales: 0.17-0.24 ms instead of 0.34-0.52 (one thread, 2-core AMD EPYC).
#pragma once
#include <opencv2/core.hpp>

namespace psmflow::video {

// f in (0, 1]; whole-number ratios (1/2, 1/3, ...) and other images go to cv::resize, whose fast
// paths for them differ in their arithmetic.
void shrink_area(const cv::Mat& src, cv::Mat& dst, double f);

}  // namespace psmflow::video
