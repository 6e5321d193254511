#include "psmflow/video/landmarks.hpp"

#include <dlib/image_processing/shape_predictor.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "tsan.hpp"
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

// dlib's shape predictor, read from dlib's format (see read()) and evaluated as dlib evaluates it
// (its feature extraction and transforms, the same trees, leaves summed in the same order: the
// points are identical), but with each cascade's splits and leaves in flat arrays and the next
// leaves prefetched, and summed in AVX2 registers where the CPU has them (target_clones; AVX-512
// was slower). dlib's own loop stalls on fetching 7,500 scattered leaf vectors per face (4 MB;
// the 65 MB of leaves stay out of cache): 1.7 ms per face there, 0.65 ms here with SSE2, 0.33
// with AVX2 and the branchless tree walk (Megamind faces, 2-core AMD EPYC, idle). 2 MB pages for
// the leaves (fewer TLB misses) made no difference.
struct LandmarkModel::Impl {
  struct Split {
    std::uint32_t a, b;  // feature pixels compared
    float thresh;
  };
  struct Cascade {
    std::size_t trees = 0, splits = 0;  // splits per tree; a full tree has splits + 1 leaves
    std::vector<Split> split;           // trees x splits
    std::vector<float> leaves;          // trees x leaves x shape size
    std::vector<unsigned long> anchor;  // feature pixels: nearest mean-shape point and offset
    std::vector<dlib::vector<float, 2>> delta;
  };
  dlib::matrix<float, 0, 1> initial;  // the mean shape, in box units (x0, y0, x1, ...)
  std::vector<Cascade> cascades;
  LandmarkSet mean_shape;

  void read(std::istream& in, const std::string& name);
  void read_mean_shape(std::istream& in, const std::string& name);
  static Cascade read_cascade(std::istream& in, long dims);
  static bool consistent(const Cascade& c);
  class GreyLevels;
  dlib::full_object_detection predict(const GreyLevels& image, const dlib::rectangle& rect) const;
  void feature_pixels(const GreyLevels& image, const dlib::rectangle& rect, const dlib::matrix<float, 0, 1>& shape,
                      const Cascade& c, std::vector<float>& pixels) const;
};

// The grey levels the predictor samples, from a grey frame or a BGR one. A BGR frame is converted
// around the box only (cvtColor on the region; the whole frame took 0.08 ms per Megamind frame);
// the few samples outside it are converted one by one (opencv_grey), so every value is what the
// converted frame holds. (A member of Impl, not of an anonymous namespace: clang 14 cannot link
// the target_clones resolver of predict() with a parameter of internal linkage.)
class LandmarkModel::Impl::GreyLevels {
 public:
  // `inside`: the box's part inside the frame.
  GreyLevels(const cv::Mat& image, const cv::Rect& inside) : image_(image) {
    const cv::Rect frame(0, 0, image.cols, image.rows);
    if (image.channels() == 1) {
      grey_ = image;
      region_ = frame;
      return;
    }
    const int grow = int(std::ceil(kAround * std::max(inside.width, inside.height)));
    region_ = cv::Rect(inside.x - grow, inside.y - grow, inside.width + 2 * grow, inside.height + 2 * grow) & frame;
    if (!region_.empty()) cv::cvtColor(image(region_), grey_, cv::COLOR_BGR2GRAY);
  }
  int cols() const { return image_.cols; }
  int rows() const { return image_.rows; }
  // (x, y) inside the frame.
  float at(long x, long y) const {
    if (region_.contains(cv::Point(int(x), int(y)))) return grey_.ptr<std::uint8_t>(y - region_.y)[x - region_.x];
    return opencv_grey(image_.ptr<std::uint8_t>(y) + 3 * x);
  }
  // The grey levels of `inside`, for the fit's contrast.
  cv::Mat box(const cv::Rect& inside) const { return grey_(inside - region_.tl()); }

 private:
  // Of the box's size, on each side. The predictor's samples reach beyond the box: over about
  // 120 fits on noise and on Megamind's faces (900,000 samples), margins of 0.2, 0.3 and 0.5 left
  // 856, 10 and 0 of them outside.
  static constexpr float kAround = 0.25f;
  const cv::Mat& image_;
  cv::Mat grey_;
  cv::Rect region_;
};

namespace {

// The model file in dlib's format, read here rather than by dlib's readers (fuzz_landmark_model
// found both): those size a vector by the count the file claims before reading an element (a
// damaged count asks for terabytes), and negate a signed integer's magnitude of 2^63 (undefined
// behaviour). Here vectors grow as their elements arrive, so memory follows the file's length, and
// every number is checked against its type.
void expect(bool ok, const char* what) {  // a literal: no string is built on the way
  if (!ok) throw dlib::serialization_error(what);
}

// dlib's integers: a control byte (the number of bytes, 0x80 when negative), then the magnitude's
// bytes, least significant first.
std::int64_t read_signed(std::istream& in, std::int64_t most) {
  std::streambuf& buf = *in.rdbuf();
  const int control = buf.sbumpc();
  expect(control != EOF, "the file ends early");
  const int size = control & 0x0F;
  expect(size >= 1 && size <= 8 && (control & 0x70) == 0, "a damaged integer");
  std::uint64_t magnitude = 0;
  for (int i = 0; i < size; ++i) {
    const int b = buf.sbumpc();
    expect(b != EOF, "the file ends early");
    magnitude |= std::uint64_t(b) << (8 * i);
  }
  expect(magnitude <= std::uint64_t(most), "an integer beyond its type");
  return (control & 0x80) ? -std::int64_t(magnitude) : std::int64_t(magnitude);
}

unsigned long read_count(std::istream& in) {
  unsigned long n = 0;
  dlib::deserialize(n, in);  // unsigned: dlib's reader is sound
  return n;
}

// dlib's floats: mantissa (int64) and exponent (int16), the value mantissa * 2^exponent as dlib
// computes it; exponents from 32000 stand for infinities and NaN, which no model holds.
float read_float(std::istream& in) {
  const std::int64_t mantissa = read_signed(in, std::numeric_limits<std::int64_t>::max());
  const auto exponent = static_cast<int>(read_signed(in, std::numeric_limits<std::int16_t>::max()));
  expect(exponent < dlib::float_details::is_inf, "an infinite or undefined value");
  return std::ldexp(static_cast<float>(mantissa), exponent);
}

// The length of a dlib::matrix<float, 0, 1> from its header (rows and columns, negative in dlib's
// newer format); -1 when it is not a column.
long read_column_length(std::istream& in) {
  const std::int64_t most = std::numeric_limits<long>::max();
  const std::int64_t rows = read_signed(in, most), cols = read_signed(in, most);
  if (cols != 1 && cols != -1) return -1;
  return static_cast<long>(rows < 0 ? -rows : rows);
}

std::vector<unsigned long> read_anchors(std::istream& in) {
  std::vector<unsigned long> out;
  for (unsigned long n = read_count(in); n > 0; --n) out.push_back(read_count(in));
  return out;
}

std::vector<dlib::vector<float, 2>> read_offsets(std::istream& in) {
  std::vector<dlib::vector<float, 2>> out;
  for (unsigned long n = read_count(in); n > 0; --n) {
    const float x = read_float(in);
    out.emplace_back(x, read_float(in));
  }
  return out;
}

// Bounds on what the model holds, far beyond the real model's (mean shape 0.03..1.07 box widths,
// leaves within +-0.061, deltas +-0.19, thresholds +-64 grey levels), so that no sum or transform
// of them can leave the numbers that the pixel coordinates are converted to.
constexpr float kMaxCoordinate = 10, kMaxLeaf = 1, kMaxThreshold = 1e4f;

bool within(float v, float bound) { return std::isfinite(v) && std::fabs(v) <= bound; }

float read_float_within(std::istream& in, float bound) {
  const float v = read_float(in);
  if (!within(v, bound)) throw dlib::serialization_error("a value beyond +-" + std::to_string(bound));
  return v;
}

}  // namespace

// One cascade's trees, straight into flat arrays: all of one depth, full (2^k - 1 splits and one
// more leaf), each leaf a column of `dims` values.
LandmarkModel::Impl::Cascade LandmarkModel::Impl::read_cascade(std::istream& in, long dims) {
  Cascade c;
  for (unsigned long n = read_count(in); c.trees < n; ++c.trees) {
    const unsigned long splits = read_count(in);
    expect(c.trees == 0 || splits == c.splits, "trees of different depths in one cascade");
    c.splits = splits;
    for (unsigned long i = 0; i < splits; ++i) {  // dlib's split_feature: idx1, idx2, thresh
      const unsigned long a = read_count(in), b = read_count(in);
      const float thresh = read_float(in);
      expect(a <= UINT32_MAX && b <= UINT32_MAX, "a split on a feature pixel beyond 2^32");
      expect(within(thresh, kMaxThreshold), "a split threshold beyond +-1e4");
      c.split.push_back({std::uint32_t(a), std::uint32_t(b), thresh});
    }
    expect(read_count(in) == splits + 1, "a tree whose leaves do not match its splits");
    for (unsigned long i = 0; i <= splits; ++i) {
      expect(read_column_length(in) == dims, "a leaf of another size than the shape");
      for (long d = 0; d < dims; ++d) c.leaves.push_back(read_float_within(in, kMaxLeaf));
    }
  }
  expect(c.trees > 0 && (c.splits & (c.splits + 1)) == 0, "a cascade without full trees");
  return c;
}

void LandmarkModel::Impl::read(std::istream& in, const std::string& name) {
  // The order of dlib's serialize(shape_predictor): version, mean shape, forests, anchors, deltas.
  const std::int64_t version = read_signed(in, std::numeric_limits<int>::max());
  if (version != 1) throw UsageError(name + ": a dlib shape predictor of unknown version " + std::to_string(version));
  read_mean_shape(in, name);
  for (unsigned long n = read_count(in); cascades.size() < n;) cascades.push_back(read_cascade(in, initial.size()));
  expect(read_count(in) == cascades.size(), "feature pixels for another number of cascades");
  for (Cascade& c : cascades) c.anchor = read_anchors(in);
  expect(read_count(in) == cascades.size(), "feature pixels for another number of cascades");
  for (Cascade& c : cascades) c.delta = read_offsets(in);
  for (std::size_t k = 0; k < cascades.size(); ++k)
    if (!consistent(cascades[k])) throw UsageError(name + ": a damaged dlib shape predictor (cascade " + std::to_string(k) + ")");
}

void LandmarkModel::Impl::read_mean_shape(std::istream& in, const std::string& name) {
  const long length = read_column_length(in);
  if (length != 2 * kLandmarks)
    throw UsageError(name + ": a dlib shape predictor of " + std::to_string(std::max(length, 0L) / 2) +
                     " points, not the 68-point model (preprocess.landmark_model)");
  initial.set_size(length);
  for (long i = 0; i < length; ++i) initial(i) = read_float_within(in, kMaxCoordinate);
  for (int i = 0; i < kLandmarks; ++i) mean_shape[i] = {initial(2 * i), initial(2 * i + 1)};
  // Every fit starts from the mean shape and scales by its spread: points that nearly coincide
  // would scale without bound (the real model's points lie 0.32 box widths from their centre).
  const cv::Point2f centre = mean_of(mean_shape, 0, kLandmarks);
  double spread = 0;
  for (const auto& q : mean_shape) spread += cv::norm(q - centre) / kLandmarks;
  if (spread < 0.01) throw UsageError(name + ": a damaged dlib shape predictor (its mean shape is a point)");
}

// Feature pixels that exist, anchored on points of the shape, at offsets of box size.
bool LandmarkModel::Impl::consistent(const Cascade& c) {
  bool ok = c.anchor.size() == c.delta.size();
  for (unsigned long a : c.anchor) ok = ok && a < std::size_t(kLandmarks);
  for (const auto& d : c.delta) ok = ok && within(d.x(), kMaxCoordinate) && within(d.y(), kMaxCoordinate);
  for (const Split& f : c.split) ok = ok && f.a < c.anchor.size() && f.b < c.anchor.size();
  return ok;
}

// dlib::impl::extract_feature_pixel_values, with the same transforms and rounding.
void LandmarkModel::Impl::feature_pixels(const GreyLevels& image, const dlib::rectangle& rect,
                                         const dlib::matrix<float, 0, 1>& shape, const Cascade& c,
                                         std::vector<float>& pixels) const {
  const dlib::matrix<float, 2, 2> tform =
      dlib::matrix_cast<float>(dlib::impl::find_tform_between_shapes(initial, shape).get_m());
  const dlib::point_transform_affine to_image = dlib::impl::unnormalizing_tform(rect);
  const dlib::rectangle area(0, 0, image.cols() - 1, image.rows() - 1);
  pixels.resize(c.delta.size());
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    dlib::point p = to_image(tform * c.delta[i] + dlib::impl::location(shape, c.anchor[i]));
    pixels[i] = area.contains(p) ? image.at(p.x(), p.y()) : 0;
  }
}

PSMFLOW_AVX2_CLONES dlib::full_object_detection LandmarkModel::Impl::predict(
    const GreyLevels& image, const dlib::rectangle& rect) const {
  dlib::matrix<float, 0, 1> shape = initial;
  const std::size_t dims = static_cast<std::size_t>(initial.size());
  std::vector<float> pixels;
  std::vector<const float*> leaf;
  constexpr std::size_t kAhead = 8;  // leaves prefetched ahead of the sum (best of 2-16 measured)
  for (const Cascade& c : cascades) {
    feature_pixels(image, rect, shape, c, pixels);
    leaf.resize(c.trees);
    // dlib's tree walk, left (2i + 1) when the difference exceeds the threshold, without a branch:
    // a face's comparisons go either way, and as branches half of them were mispredicted.
    for (std::size_t t = 0; t < c.trees; ++t) {
      const Split* s = &c.split[t * c.splits];
      std::size_t i = 0;
      while (i < c.splits) i = 2 * i + 2 - std::size_t(pixels[s[i].a] - pixels[s[i].b] > s[i].thresh);
      leaf[t] = &c.leaves[(t * (c.splits + 1) + i - c.splits) * dims];
    }
    float* out = &shape(0);
    for (std::size_t t = 0; t < c.trees; ++t) {
      if (t + kAhead < c.trees)
        for (std::size_t d = 0; d < dims; d += 16) __builtin_prefetch(leaf[t + kAhead] + d);
      for (std::size_t d = 0; d < dims; ++d) out[d] += leaf[t][d];
    }
  }
  const dlib::point_transform_affine to_image = dlib::impl::unnormalizing_tform(rect);
  std::vector<dlib::point> parts(dims / 2);
  for (std::size_t i = 0; i < parts.size(); ++i) parts[i] = to_image(dlib::impl::location(shape, i));
  return dlib::full_object_detection(rect, parts);
}

LandmarkModel::LandmarkModel(const std::filesystem::path& file) : impl_(std::make_unique<Impl>()) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError(file.string() + ": cannot open the landmark model (preprocess.landmark_model); is libdlib-data installed?");
  auto corrupt = [&](const std::string& why) {
    return UsageError(file.string() + ": not a dlib shape predictor (preprocess.landmark_model): " + why);
  };
  try {
    impl_->read(in, file.string());
  } catch (const dlib::serialization_error& e) {
    throw corrupt(e.what());
  } catch (const std::bad_alloc&) {  // a file too large for this machine's memory
    throw corrupt("sizes beyond memory");
  }
}

LandmarkModel::~LandmarkModel() = default;

LandmarkFit LandmarkModel::fit(const cv::Mat& image, const cv::Rect2f& box) const {
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
    throw std::invalid_argument("LandmarkModel::fit: an 8-bit grey or BGR image is needed");
  dlib::rectangle r(long(std::lround(box.x)), long(std::lround(box.y)), long(std::lround(box.x + box.width)) - 1,
                    long(std::lround(box.y + box.height)) - 1);
  const cv::Rect inside = cv::Rect(box) & cv::Rect(0, 0, image.cols, image.rows);
  const Impl::GreyLevels grey(image, inside);
  dlib::full_object_detection shape = impl_->predict(grey, r);
  LandmarkFit out;
  for (int i = 0; i < kLandmarks; ++i) out.points[i] = {float(shape.part(i).x()), float(shape.part(i).y())};
  // Expressions and head turns move real faces a tenth to a quarter of the eye distance off the
  // mean shape (Megamind: median 0.15); 0.4 of it is no plausible face any more.
  float plausible = std::clamp(1.f - shape_residual(impl_->mean_shape, out.points) / 0.4f, 0.f, 1.f);
  // On a box without texture the trees return about the mean shape (a flat grey box fits 0.84):
  // that is no evidence of a face, so the fit also needs the box's grey levels to vary.
  cv::Scalar mean, spread;
  if (inside.area() > 0) cv::meanStdDev(grey.box(inside), mean, spread);
  out.fit = plausible * std::min(1.f, float(spread[0]) / kFaceContrast);
  return out;
}

cv::Rect2f dlib_box_from_cascade(const cv::Rect2f& box) {
  constexpr float kScale = 0.86f, kDown = 0.065f;
  const float w = box.width * kScale, h = box.height * kScale;
  const cv::Point2f c(box.x + box.width / 2, box.y + box.height / 2 + kDown * box.width);
  return {c.x - w / 2, c.y - h / 2, w, h};
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

namespace {

// One Euro settings, chosen on a still Megamind frame with camera-like noise and on Megamind
// itself (docs/preprocess.md): a 1 Hz cut-off at rest, raised by 16 Hz per eye distance per second
// of speed; the speed itself is low-passed at 1 Hz.
constexpr double kRestCutoffHz = 1.0, kCutoffPerSpeed = 16.0, kSpeedCutoffHz = 1.0;

// The weight of a new sample in a first-order low-pass of cut-off `hz`, `dt` seconds after the last.
float blend(double hz, double dt) {
  double r = 2 * CV_PI * hz * dt;
  return float(r / (r + 1));
}

}  // namespace

LandmarkSet LandmarkSmoother::push(const LandmarkSet& raw, double dt_s) {
  const double eyes = cv::norm(right_eye(raw) - left_eye(raw));
  if (!have_ || !(dt_s > 0) || !(eyes > 0)) {
    last_ = raw;
    speed_.fill({0, 0});
    have_ = true;
    return raw;
  }
  const float to_speed = float(1 / (dt_s * eyes)), k_speed = blend(kSpeedCutoffHz, dt_s);
  for (int i = 0; i < kLandmarks; ++i) {
    cv::Point2f d = raw[i] - last_[i];
    speed_[i] += k_speed * (d * to_speed - speed_[i]);
    last_[i] += blend(kRestCutoffHz + kCutoffPerSpeed * cv::norm(speed_[i]), dt_s) * d;
  }
  return last_;
}

}  // namespace psmflow::video
