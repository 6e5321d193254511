// dlib shape predictor files ([preprocess] landmark_model names any file), read and then fitted
// on a small image, inside it and partly outside, as preprocess does. Seeds: tiny.dat (committed,
// a 68-point model of one cascade with two depth-1 trees written by dlib::serialize) and the first
// 64 KiB of libdlib-data's model (tools/fuzz-seeds).
#include <opencv2/core.hpp>

#include "fuzz_support.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/video/landmarks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = psmflow::fuzz::write_input("model.dat", data, size);
  try {
    psmflow::video::LandmarkModel model(file);
    cv::Mat gray(64, 64, CV_8UC1);
    for (int y = 0; y < gray.rows; ++y)
      for (int x = 0; x < gray.cols; ++x) gray.at<unsigned char>(y, x) = static_cast<unsigned char>((x * 7 + y * 13) % 251);
    model.fit(gray, {8, 8, 40, 40});
    model.fit(gray, {-20, 40, 50, 50});
  } catch (const psmflow::UsageError&) {
  }
  return 0;
}
