// dlib's HOG frontal face detector (compiled into libdlib, no model file) behind FaceDetector.
#pragma once
#include <memory>

#include "psmflow/video/detect.hpp"

namespace psmflow::video {

std::unique_ptr<FaceDetector> make_dlib_detector();

}  // namespace psmflow::video
