#include "psmflow/video/haar.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "tsan.hpp"

namespace psmflow::video {

struct HaarCascade::Impl {
  struct Stump {
    int feature;
    float threshold, left, right;
  };
  struct Stage {
    int first, count;
    float threshold;
  };
  struct Feature {
    std::array<cv::Rect, 3> rect;
    std::array<float, 3> weight;
  };
  cv::Size window;
  std::vector<Stage> stages;
  std::vector<Stump> stumps;
  std::vector<Feature> features;
  std::uint64_t id = 0;  // which cascade this is, for the offsets each thread keeps

  bool read(const cv::FileNode& root);
};

namespace {

constexpr int kLanes = 8;  // neighbouring windows evaluated together: AVX2's width

// The four corners of `r` in an integral image of row stride `step`, in OpenCV's order.
std::array<int, 4> corner_offsets(const cv::Rect& r, int step) {
  return {r.x + step * r.y, r.x + r.width + step * r.y, r.x + step * (r.y + r.height),
          r.x + r.width + step * (r.y + r.height)};
}

bool inside(const cv::Rect& r, cv::Size window) {
  return r.x >= 0 && r.y >= 0 && r.width >= 0 && r.height >= 0 && r.x + r.width <= window.width &&
         r.y + r.height <= window.height;
}

// One shrunk image of the pyramid: its integral images (rows padded so that the last block of
// windows may read past the row's end) and the windows scanned in it.
struct Scale {
  float factor = 1;
  int ystep = 2;      // OpenCV's: every other window below a factor of 2, every one above
  cv::Size working;   // window positions
  cv::Size window;    // a window's size in the source image
  cv::Mat sum, sqsum;
};

// Each feature's corner offsets in integral images of one row stride, and the normalising
// rectangle's.
struct Offsets {
  std::uint64_t cascade = 0;
  int step = -1;
  std::vector<std::array<int, 12>> corners;
  std::array<int, 4> norm{};
};

// Kept per thread and computed again only when the cascade or the stride changes (the tracker's
// searches mostly keep it): one cascade serves the pipelines that run side by side.
const Offsets& offsets(const HaarCascade::Impl& c, int step) {
  thread_local Offsets o;
  if (o.cascade == c.id && o.step == step) return o;
  o.cascade = c.id;
  o.step = step;
  o.corners.resize(c.features.size());
  for (std::size_t f = 0; f < c.features.size(); ++f)
    for (int r = 0; r < 3; ++r) {
      // OpenCV reads a third rectangle only when its weight is positive (a zero one adds 0).
      cv::Rect rect = r < 2 || c.features[f].weight[2] > 0 ? c.features[f].rect[r] : cv::Rect();
      auto corners = corner_offsets(rect, step);
      std::copy(corners.begin(), corners.end(), o.corners[f].begin() + 4 * r);
    }
  o.norm = corner_offsets(cv::Rect(1, 1, c.window.width - 2, c.window.height - 2), step);
  return o;
}

// Lanes of ints, floats and unsigned, and half as many doubles (GCC's and clang's vector
// extensions: SIMD where the target has it, plain code where not).
typedef int VInt __attribute__((vector_size(4 * kLanes)));
typedef unsigned VUnsigned __attribute__((vector_size(4 * kLanes)));
typedef float VFloat __attribute__((vector_size(4 * kLanes)));
typedef double VDouble __attribute__((vector_size(8 * kLanes / 2)));
typedef float VHalfFloat __attribute__((vector_size(4 * kLanes / 2)));

// Windows at x = (k0 + lane) * S of one row, S the window step.
struct Block {
  const int* sum;
  const unsigned* sqsum;
  VFloat vnf;          // OpenCV's variance normalisation factor per window
  bool alive[kLanes];  // evaluated, valid and not rejected yet
};

}  // namespace

bool HaarCascade::Impl::read(const cv::FileNode& root) {
  if (root.empty() || std::string(root["stageType"]) != "BOOST" || std::string(root["featureType"]) != "HAAR")
    return false;
  window = cv::Size(int(root["width"]), int(root["height"]));
  if (window.width < 3 || window.height < 3 || int(root["featureParams"]["maxCatCount"]) != 0) return false;
  const cv::FileNode feature_nodes = root["features"];
  for (const cv::FileNode& fn : feature_nodes) {
    if (int(fn["tilted"]) != 0 || fn["rects"].size() < 2 || fn["rects"].size() > 3) return false;
    Feature f{};
    int r = 0;
    for (const cv::FileNode& rn : fn["rects"]) {
      if (rn.size() != 5) return false;
      f.rect[r] = cv::Rect(int(rn[0]), int(rn[1]), int(rn[2]), int(rn[3]));
      f.weight[r] = float(rn[4]);
      if (!inside(f.rect[r++], window)) return false;
    }
    features.push_back(f);
  }
  // OpenCV lowers each stage's threshold by 1e-5 when it reads it.
  constexpr float kThresholdEps = 1e-5f;
  for (const cv::FileNode& sn : root["stages"]) {
    Stage stage{int(stumps.size()), 0, float(sn["stageThreshold"]) - kThresholdEps};
    for (const cv::FileNode& wn : sn["weakClassifiers"]) {
      const cv::FileNode nodes = wn["internalNodes"], leaves = wn["leafValues"];
      if (nodes.size() != 4 || leaves.size() != 2) return false;  // a stump: left, right, feature, threshold
      const int feature = int(nodes[2]);
      if (feature < 0 || feature >= int(features.size())) return false;
      stumps.push_back({feature, float(nodes[3]), float(leaves[0]), float(leaves[1])});
      ++stage.count;
    }
    if (stage.count == 0) return false;  // OpenCV refuses such a stage
    stages.push_back(stage);
  }
  return !stages.empty() && !features.empty();
}

std::unique_ptr<HaarCascade> HaarCascade::load(const std::filesystem::path& file) {
  cv::FileStorage fs(file.string(), cv::FileStorage::READ);
  if (!fs.isOpened()) return nullptr;
  auto impl = std::make_unique<Impl>();
  if (!impl->read(fs.getFirstTopLevelNode())) return nullptr;
  static std::atomic<std::uint64_t> loaded{0};
  impl->id = ++loaded;
  return std::unique_ptr<HaarCascade>(new HaarCascade(std::move(impl)));
}

HaarCascade::HaarCascade(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HaarCascade::~HaarCascade() = default;

namespace {

// p[0], p[S], ..., p[(kLanes - 1) S]
template <int S, typename V, typename T>
__attribute__((always_inline)) inline V lanes(const T* p) {
  V a;
  std::memcpy(&a, p, sizeof a);
  if constexpr (S == 1) {
    return a;
  } else {
    V b;
    std::memcpy(&b, p + kLanes, sizeof b);
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
  }
}

template <int S>
__attribute__((always_inline)) inline VInt rect_sum(const int* p, const int* o) {
  return lanes<S, VInt>(p + o[0]) - lanes<S, VInt>(p + o[1]) - lanes<S, VInt>(p + o[2]) + lanes<S, VInt>(p + o[3]);
}

// The low or the high half of the lanes, as doubles.
template <typename V>
__attribute__((always_inline)) inline VDouble low_half(V v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), VDouble);
}
template <typename V>
__attribute__((always_inline)) inline VDouble high_half(V v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), VDouble);
}

// Each window's normalisation as OpenCV's HaarEvaluator::setWindow computes it: windows of
// almost no contrast are not evaluated (alive = false) and do not skip the next one.
template <int S>
__attribute__((always_inline)) inline void normalise(Block& b, const std::array<int, 4>& n, double area) {
  const VInt valsum = rect_sum<S>(b.sum, n.data());
  const VUnsigned valsqsum = lanes<S, VUnsigned>(b.sqsum + n[0]) - lanes<S, VUnsigned>(b.sqsum + n[1]) -
                             lanes<S, VUnsigned>(b.sqsum + n[2]) + lanes<S, VUnsigned>(b.sqsum + n[3]);
  VDouble nf[2], root[2];
  for (int h = 0; h < 2; ++h) {
    const VDouble s = h ? high_half(valsum) : low_half(valsum);
    nf[h] = area * (h ? high_half(valsqsum) : low_half(valsqsum)) - s * s;
    double r[kLanes / 2];
    for (int i = 0; i < kLanes / 2; ++i) r[i] = __builtin_sqrt(nf[h][i] > 0 ? nf[h][i] : 1.);
    std::memcpy(&root[h], r, sizeof r);
  }
  const VFloat inverse = __builtin_shufflevector(__builtin_convertvector(1. / root[0], VHalfFloat),
                                                 __builtin_convertvector(1. / root[1], VHalfFloat), 0, 1, 2, 3, 4,
                                                 5, 6, 7);
  for (int i = 0; i < kLanes; ++i) {
    const bool contrast = nf[i / (kLanes / 2)][i % (kLanes / 2)] > 0;
    b.vnf[i] = contrast ? inverse[i] : 1.f;
    b.alive[i] = contrast && area * inverse[i] < 1e-1;
  }
}

// One stage's sum for every lane, in OpenCV's arithmetic: each rectangle sum weighted in float,
// the feature scaled by the window's normalisation, the stumps' leaves summed in double.
template <int S>
__attribute__((always_inline)) inline void stage_sums(const HaarCascade::Impl& c, const Offsets& at,
                                                     const HaarCascade::Impl::Stage& stage, const Block& b,
                                                     VDouble& low, VDouble& high) {
  low = VDouble{};
  high = VDouble{};
  for (int k = stage.first; k < stage.first + stage.count; ++k) {
    const HaarCascade::Impl::Stump& st = c.stumps[k];
    const int* o = at.corners[st.feature].data();
    const auto& w = c.features[st.feature].weight;
    VFloat value = w[0] * __builtin_convertvector(rect_sum<S>(b.sum, o), VFloat) +
                   w[1] * __builtin_convertvector(rect_sum<S>(b.sum, o + 4), VFloat);
    if (w[2] != 0) value += w[2] * __builtin_convertvector(rect_sum<S>(b.sum, o + 8), VFloat);
    const VFloat leaf = value * b.vnf < st.threshold ? VFloat{} + st.left : VFloat{} + st.right;
    low += low_half(leaf);
    high += high_half(leaf);
  }
}

// The windows of row y of one scale, as OpenCV's CascadeClassifierInvoker walks them: a window
// its first stage rejects makes the loop skip the next one.
template <int S>
__attribute__((always_inline)) inline void scan_row(const HaarCascade::Impl& c, const Offsets& at, const Scale& s, int y,
                                                   std::vector<cv::Rect>& found) {
  const int positions = (s.working.width + S - 1) / S;
  const double area = double(c.window.width - 2) * (c.window.height - 2);
  bool skip = false;
  for (int k0 = 0; k0 < positions; k0 += kLanes) {
    Block b{};
    b.sum = s.sum.ptr<int>(y) + S * k0;
    b.sqsum = s.sqsum.ptr<unsigned>(y) + S * k0;
    normalise<S>(b, at.norm, area);
    VDouble low, high;
    stage_sums<S>(c, at, c.stages[0], b, low, high);
    auto total = [&](int i) { return i < kLanes / 2 ? low[i] : high[i - kLanes / 2]; };
    bool any = false;
    for (int i = 0; i < kLanes; ++i) {
      const bool evaluated = !skip && k0 + i < positions;
      const bool rejected = b.alive[i] && total(i) < c.stages[0].threshold;
      skip = evaluated && rejected;
      b.alive[i] = evaluated && b.alive[i] && !rejected;
      any = any || b.alive[i];
    }
    for (std::size_t si = 1; any && si < c.stages.size(); ++si) {
      stage_sums<S>(c, at, c.stages[si], b, low, high);
      any = false;
      for (int i = 0; i < kLanes; ++i) {
        b.alive[i] = b.alive[i] && !(total(i) < c.stages[si].threshold);
        any = any || b.alive[i];
      }
    }
    for (int i = 0; any && i < kLanes; ++i)
      if (b.alive[i])
        found.emplace_back(cvRound(float(S * (k0 + i)) * s.factor), cvRound(float(y) * s.factor), s.window.width,
                           s.window.height);
  }
}

// Rows [y0, y1) of one scale, compiled for AVX2 as well as for the baseline (picked at load
// time): the lanes are AVX2's 8 floats (3.6 times OpenCV's speed on Megamind's searches, one
// thread, 3.3 with two; 1.5 times without AVX2).
PSMFLOW_AVX2_CLONES void scan_rows(const HaarCascade::Impl& c, const Offsets& at, const Scale& s, int y0, int y1,
                                   std::vector<cv::Rect>& found) {
  for (int y = y0; y < y1; y += s.ystep)
    s.ystep == 1 ? scan_row<1>(c, at, s, y, found) : scan_row<2>(c, at, s, y, found);
}

// OpenCV's pyramid: factors 1, step, step^2, ... whose window lies within [min_size, max_size]
// and the image; each image shrunk with INTER_LINEAR_EXACT (OpenCV 4.6's choice) and integrated in
// 32-bit sums.
std::vector<Scale> pyramid(const cv::Mat& gray, cv::Size window, double scale_step, cv::Size min_size,
                           cv::Size max_size) {
  if (max_size.width == 0 || max_size.height == 0) max_size = gray.size();
  std::vector<float> factors;
  for (double factor = 1;; factor *= scale_step) {
    cv::Size w(cvRound(window.width * factor), cvRound(window.height * factor));
    if (w.width > max_size.width || w.height > max_size.height || w.width > gray.cols || w.height > gray.rows) break;
    if (w.width < min_size.width || w.height < min_size.height) continue;
    factors.push_back(float(factor));
  }
  std::vector<Scale> out;
  if (factors.empty()) return out;
  // One row stride for every scale (the feature offsets depend on it), with room for a block of
  // windows that runs past a row's end (its lanes are not evaluated).
  const int stride = (cvRound(gray.cols / factors[0]) + 1 + 15) / 16 * 16 + 2 * kLanes;
  cv::Mat small;
  for (float f : factors) {
    Scale s;
    s.factor = f;
    s.ystep = f >= 2 ? 1 : 2;
    cv::Size sz(cvRound(gray.cols / f), cvRound(gray.rows / f));
    s.working = cv::Size(std::max(sz.width + 1 - window.width, 0), std::max(sz.height + 1 - window.height, 0));
    s.window = cv::Size(cvRound(window.width * f), cvRound(window.height * f));
    cv::resize(gray, small, sz, 1. / f, 1. / f, cv::INTER_LINEAR_EXACT);
    cv::Mat sum_buf(sz.height + 2, stride, CV_32S, cv::Scalar(0)), sq_buf(sz.height + 2, stride, CV_32S, cv::Scalar(0));
    s.sum = sum_buf(cv::Rect(0, 0, sz.width + 1, sz.height + 1));
    s.sqsum = sq_buf(cv::Rect(0, 0, sz.width + 1, sz.height + 1));
    cv::integral(small, s.sum, s.sqsum, CV_32S, CV_32S);
    out.push_back(s);
  }
  return out;
}

}  // namespace

void HaarCascade::detect(const cv::Mat& gray, std::vector<cv::Rect>& faces, std::vector<int>& votes,
                         double scale_step, int min_neighbours, cv::Size min_size, cv::Size max_size) const {
  CV_Assert(gray.type() == CV_8UC1 && scale_step > 1);
  faces.clear();
  votes.clear();
  const Impl& c = *impl_;
  std::vector<Scale> scales = pyramid(gray, c.window, scale_step, min_size, max_size);
  if (scales.empty()) return;
  const Offsets& at = offsets(c, int(scales[0].sum.step1()));  // the caller's, read by the pool's threads
  // Rows in stripes across OpenCV's pool; each stripe keeps its own finds, joined in order.
  const int stripes = std::max(1, (scales[0].working.width + 31) / 32);
  std::vector<std::vector<cv::Rect>> found(stripes);
  pool_for(cv::Range(0, stripes), [&](const cv::Range& range) {
    for (int k = range.start; k < range.end; ++k)
      for (const Scale& s : scales) {
        const int rows = std::max((s.working.height / s.ystep + stripes - 1) / stripes, 1) * s.ystep;
        scan_rows(c, at, s, k * rows, std::min((k + 1) * rows, s.working.height), found[k]);
      }
  });
  for (auto& f : found) faces.insert(faces.end(), f.begin(), f.end());
  constexpr double kGroupEps = 0.2;  // OpenCV's
  cv::groupRectangles(faces, votes, min_neighbours, kGroupEps);
  // Clipped to the image, as CascadeClassifier::detectMultiScale does.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    cv::Rect r = faces[i] & cv::Rect(0, 0, gray.cols, gray.rows);
    if (r.area() <= 0) continue;
    faces[kept] = r;
    votes[kept++] = votes[i];
  }
  faces.resize(kept);
  votes.resize(kept);
}

}  // namespace psmflow::video
