#include "psmflow/video/landmarks.hpp"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>

#include "psmflow/core/error.hpp"

namespace psmflow::video {
namespace {

cv::Point2f mean_of(const LandmarkSet& p, int from, int to) {
  cv::Point2f s(0, 0);
  for (int i = from; i < to; ++i) s += p[i];
  return s / float(to - from);
}

// The residual (RMS, in units of the eye distance) of `p` after the least-squares similarity
// transform that maps `ref` onto it.
float shape_residual(const LandmarkSet& ref, const LandmarkSet& p) {
  cv::Point2f mr = mean_of(ref, 0, kLandmarks), mp = mean_of(p, 0, kLandmarks);
  double a = 0, b = 0, norm = 0;
  for (int i = 0; i < kLandmarks; ++i) {
    cv::Point2f r = ref[i] - mr, q = p[i] - mp;
    a += r.x * q.x + r.y * q.y;
    b += r.x * q.y - r.y * q.x;
    norm += r.x * r.x + r.y * r.y;
  }
  if (norm <= 0) return 1;
  a /= norm;
  b /= norm;
  double err = 0;
  for (int i = 0; i < kLandmarks; ++i) {
    cv::Point2f r = ref[i] - mr, q = p[i] - mp;
    double ex = a * r.x - b * r.y - q.x, ey = b * r.x + a * r.y - q.y;
    err += ex * ex + ey * ey;
  }
  float eyes = float(cv::norm(right_eye(p) - left_eye(p)));
  return eyes > 0 ? float(std::sqrt(err / kLandmarks)) / eyes : 1;
}

// Grey-level standard deviation of a face box from which on its texture counts in full (faces in
// Megamind and the synthetic cohort: 30-60).
constexpr float kFaceContrast = 20;

}  // namespace

struct LandmarkModel::Impl {
  dlib::shape_predictor predictor;
  LandmarkSet mean_shape;  // the predictor's starting shape, in box units
};

LandmarkModel::LandmarkModel(const std::filesystem::path& file) : impl_(std::make_unique<Impl>()) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError(file.string() + ": cannot open the landmark model (preprocess.landmark_model); is libdlib-data installed?");
  // The file starts with the format version and the mean shape; the predictor keeps the latter
  // private, so it is read here first, then the whole file again into the predictor.
  try {
    int version = 0;
    dlib::matrix<float, 0, 1> initial;
    dlib::deserialize(version, in);
    dlib::deserialize(initial, in);
    if (initial.size() != 2 * kLandmarks)
      throw UsageError(file.string() + ": a dlib shape predictor of " + std::to_string(initial.size() / 2) +
                       " points, not the 68-point model (preprocess.landmark_model)");
    for (int i = 0; i < kLandmarks; ++i) impl_->mean_shape[i] = {initial(2 * i), initial(2 * i + 1)};
    in.seekg(0);
    dlib::deserialize(impl_->predictor, in);
  } catch (const dlib::serialization_error& e) {
    throw UsageError(file.string() + ": not a dlib shape predictor (preprocess.landmark_model): " + e.what());
  }
}

LandmarkModel::~LandmarkModel() = default;

LandmarkFit LandmarkModel::fit(const cv::Mat& gray, const cv::Rect2f& box) const {
  dlib::cv_image<unsigned char> img(gray);
  dlib::rectangle r(long(std::lround(box.x)), long(std::lround(box.y)), long(std::lround(box.x + box.width)) - 1,
                    long(std::lround(box.y + box.height)) - 1);
  dlib::full_object_detection shape = impl_->predictor(img, r);
  LandmarkFit out;
  for (int i = 0; i < kLandmarks; ++i) out.points[i] = {float(shape.part(i).x()), float(shape.part(i).y())};
  // Expressions and head turns move real faces a tenth to a quarter of the eye distance off the
  // mean shape (Megamind: median 0.15); 0.4 of it is no plausible face any more.
  float plausible = std::clamp(1.f - shape_residual(impl_->mean_shape, out.points) / 0.4f, 0.f, 1.f);
  // On a box without texture the trees return about the mean shape (a flat grey box fits 0.84):
  // that is no evidence of a face, so the fit also needs the box's grey levels to vary.
  cv::Rect inside = cv::Rect(box) & cv::Rect(0, 0, gray.cols, gray.rows);
  cv::Scalar mean, spread;
  if (inside.area() > 0) cv::meanStdDev(gray(inside), mean, spread);
  out.fit = plausible * std::min(1.f, float(spread[0]) / kFaceContrast);
  return out;
}

std::shared_ptr<const LandmarkModel> shared_landmark_model(const std::filesystem::path& file) {
  static std::mutex mu;
  static std::map<std::filesystem::path, std::shared_ptr<const LandmarkModel>> loaded;
  const std::filesystem::path path = file.empty() ? kDlibLandmarkModel : file;
  std::lock_guard<std::mutex> lock(mu);
  auto& model = loaded[path];
  if (!model) model = std::make_shared<const LandmarkModel>(path);
  return model;
}

cv::Point2f left_eye(const LandmarkSet& p) { return mean_of(p, 36, 42); }
cv::Point2f right_eye(const LandmarkSet& p) { return mean_of(p, 42, 48); }
cv::Point2f mouth(const LandmarkSet& p) { return mean_of(p, 48, 60); }

LandmarkSet LandmarkSmoother::push(const LandmarkSet& raw) {
  if (!have_) {
    last_ = raw;
    have_ = true;
    return raw;
  }
  // Motion of more than 6% of the eye distance in one frame is real movement, taken as it is;
  // less is blended in proportionally, so still points hold and slow ones follow a pixel or two behind.
  const float full = 0.06f * float(cv::norm(right_eye(raw) - left_eye(raw)));
  for (int i = 0; i < kLandmarks; ++i) {
    cv::Point2f d = raw[i] - last_[i];
    float k = full > 0 ? std::min(1.f, float(cv::norm(d)) / full) : 1.f;
    last_[i] += k * d;
  }
  return last_;
}

}  // namespace psmflow::video
