#include "psmflow/video/detect.hpp"

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/objdetect/face.hpp>

#include <cmath>
#include <map>
#include <mutex>

#include "detect_dlib.hpp"
#include "psmflow/core/error.hpp"

namespace psmflow::video {
namespace {

cv::Ptr<cv::CascadeClassifier> load_cascade(const fs::path& file, const std::string& key) {
  auto c = cv::makePtr<cv::CascadeClassifier>();
  bool ok = false;
  try {
    ok = c->load(file.string());
  } catch (const cv::Exception& e) {
    throw UsageError(file.string() + ": cannot load cascade (" + key + "): " + e.what());
  }
  if (!ok || c->empty())
    throw UsageError(file.string() + ": cannot load cascade (" + key + "); is opencv-data installed?");
  return c;
}

// psmflow's evaluation of OpenCV's stump cascades (haar.hpp: the same faces, 3 times faster)
// where it applies; nullptr leaves the file to OpenCV, whose loader also says what is wrong with it.
// Read once per process (9 ms for the default cascade): every subject's tracker shares it.
std::shared_ptr<const HaarCascade> load_haar(const fs::path& file) {
  static std::mutex mu;
  static std::map<fs::path, std::shared_ptr<const HaarCascade>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  auto [it, fresh] = loaded.try_emplace(file);
  if (fresh) {
    try {
      it->second = HaarCascade::load(file);
    } catch (const cv::Exception&) {
    }
  }
  return it->second;
}

class CascadeDetector : public FaceDetector {
 public:
  CascadeDetector(const fs::path& file, std::string name) : cascade_(file, "preprocess.cascade"), name_(std::move(name)) {}
  std::vector<Detection> detect(const cv::Mat& bgr, float min_size, float max_size, double scale_step) override {
    // No histogram equalisation: on real video (Megamind) it makes the cascade find "faces" on a
    // bright forehead and miss the face below, which the plain grey image gives.
    const cv::Mat* gray = &bgr;
    if (bgr.channels() != 1) {
      cv::cvtColor(bgr, gray_, cv::COLOR_BGR2GRAY);
      gray = &gray_;
    }
    std::vector<cv::Rect> faces;
    std::vector<int> votes;
    int lo = std::max(1, static_cast<int>(min_size));
    cv::Size max_sz = max_size > 0 ? cv::Size(int(max_size), int(max_size)) : cv::Size();
    cascade_.detect(*gray, faces, votes, scale_step, cv::Size(lo, lo), max_sz);
    std::vector<Detection> out;
    // Votes: how many neighbouring windows found the face; 3 (the minimum kept) gives 0.39, 12 gives 0.86.
    for (std::size_t i = 0; i < faces.size(); ++i)
      out.push_back({cv::Rect2f(faces[i]), 1 - std::exp(-votes[i] / 6.f), std::nullopt});
    return out;
  }
  std::string name() const override { return name_; }
  bool needs_colour() const override { return false; }

 private:
  CascadeFile cascade_;
  std::string name_;
  cv::Mat gray_;
};

// The priors OpenCV 4.6's FaceDetectorYN builds for a w x h input: maps of strides 8..64 with
// 3, 2, 2, 3 anchor sizes (face_detect.cpp, generatePriors).
std::size_t yunet_priors(int w, int h) {
  int fw = ((w + 1) / 2) / 2, fh = ((h + 1) / 2) / 2;
  std::size_t n = 0;
  for (int anchors : {3, 2, 2, 3}) {
    fw /= 2;
    fh /= 2;
    n += std::size_t(fw) * fh * anchors;
  }
  return n;
}

std::string model_failed(const fs::path& model, cv::Size size, const std::string& why) {
  return model.string() + ": the DNN face model (preprocess.dnn_model) failed on a " + std::to_string(size.width) +
         "x" + std::to_string(size.height) + " image; is it a YuNet model for OpenCV 4.6 (outputs loc, conf, iou)? " + why;
}

// FaceDetectorYN in OpenCV 4.6 reads loc, conf and iou without checking their sizes: a model with
// those names and another layout would be read out of bounds. One forward pass checks them.
void check_yunet_outputs(const fs::path& model) {
  const cv::Size size(320, 320);
  std::vector<cv::Mat> outs;
  try {
    cv::dnn::Net net = cv::dnn::readNet(model.string());
    net.setInput(cv::dnn::blobFromImage(cv::Mat(size, CV_8UC3, cv::Scalar::all(0))));
    net.forward(outs, std::vector<cv::String>{"loc", "conf", "iou"});
  } catch (const cv::Exception& e) {
    throw UsageError(model_failed(model, size, e.what()));
  }
  const std::size_t n = yunet_priors(size.width, size.height);
  if (outs.size() != 3 || outs[0].total() != 14 * n || outs[1].total() != 2 * n || outs[2].total() != n)
    throw UsageError(model_failed(
        model, size,
        "Its outputs loc, conf, iou hold " + std::to_string(outs.size() > 0 ? outs[0].total() : 0) + ", " +
            std::to_string(outs.size() > 1 ? outs[1].total() : 0) + ", " +
            std::to_string(outs.size() > 2 ? outs[2].total() : 0) + " values where FaceDetectorYN reads " +
            std::to_string(14 * n) + ", " + std::to_string(2 * n) + ", " + std::to_string(n) + " (one row per prior)"));
}

// YuNet via FaceDetectorYN: rows of [x, y, w, h, right eye, left eye, nose, mouth corners, score].
// "Right eye" is the person's right eye, the one on the image's left: OpenCV's own FaceRecognizerSF
// aligns columns 4-5 onto the left eye of its 112x112 template (x = 38).
class DnnDetector : public FaceDetector {
 public:
  explicit DnnDetector(const fs::path& model) : model_(model) {
    try {
      net_ = cv::FaceDetectorYN::create(model.string(), "", cv::Size(320, 320), 0.7f, 0.3f, 50);
    } catch (const cv::Exception& e) {
      throw UsageError(model.string() + ": cannot load the DNN face model (preprocess.dnn_model): " + e.what());
    }
    if (!net_) throw UsageError(model.string() + ": cannot load the DNN face model (preprocess.dnn_model)");
    check_yunet_outputs(model);
  }
  std::vector<Detection> detect(const cv::Mat& bgr, float min_size, float max_size, double) override {
    // OpenCV 4.6 runs the network on the image's own size, and YuNet's stride-64 map is empty
    // (a failed forward) below 64 pixels. Padding bottom and right to a multiple of 32, at least
    // 64, as OpenCV 4.7+ does itself, keeps the boxes where they are, makes small tracking
    // windows work and lets windows of similar size share one network shape (no reallocation).
    cv::Size padded(pad_to(bgr.cols), pad_to(bgr.rows));
    cv::copyMakeBorder(bgr, padded_, 0, padded.height - bgr.rows, 0, padded.width - bgr.cols, cv::BORDER_CONSTANT,
                       cv::Scalar::all(0));
    if (padded != input_size_) {
      net_->setInputSize(padded);
      input_size_ = padded;
    }
    cv::Mat rows;
    try {
      net_->detect(padded_, rows);
    } catch (const cv::Exception& e) {
      throw UsageError(model_failed(model_, bgr.size(), e.what()));
    }
    std::vector<Detection> out;
    for (int i = 0; i < rows.rows; ++i) {
      const float* r = rows.ptr<float>(i);
      if (r[2] < min_size || (max_size > 0 && r[2] > max_size)) continue;
      Detection d{cv::Rect2f(r[0], r[1], r[2], r[3]), r[14], std::nullopt};
      d.eyes = std::make_pair(cv::Point2f(r[4], r[5]), cv::Point2f(r[6], r[7]));  // image-left, image-right
      out.push_back(d);
    }
    return out;
  }
  std::string name() const override { return "dnn"; }

 private:
  static int pad_to(int n) { return std::max(64, (n + 31) / 32 * 32); }

  fs::path model_;
  cv::Ptr<cv::FaceDetectorYN> net_;
  cv::Size input_size_;
  cv::Mat padded_;
};

}  // namespace

fs::path default_cascade(const std::string& detector) {
  if (detector == "lbp") return kOpenCvData / "lbpcascades/lbpcascade_frontalface_improved.xml";
  return kOpenCvData / "haarcascades/haarcascade_frontalface_default.xml";
}

bool is_cascade(const std::string& detector) { return detector == "haar" || detector == "lbp"; }

namespace {

fs::path eye_cascade(const fs::path& configured) {
  return configured.empty() ? kOpenCvData / "haarcascades/haarcascade_eye.xml" : configured;
}

fs::path face_cascade(const PreprocessSection& p) { return p.cascade.empty() ? default_cascade(p.detector) : p.cascade; }

}  // namespace

std::unique_ptr<FaceDetector> make_detector(const PreprocessSection& p) {
  if (p.detector == "dnn") return std::make_unique<DnnDetector>(p.dnn_model);
  if (p.detector == "dlib") return make_dlib_detector();
  if (!is_cascade(p.detector))
    throw UsageError("preprocess.detector: unknown detector '" + p.detector + "' (haar, lbp, dnn, dlib)");
  return std::make_unique<CascadeDetector>(face_cascade(p), p.detector);
}

CascadeFile::CascadeFile(const fs::path& file, const std::string& key)
    : haar_(load_haar(file)), opencv_(haar_ ? nullptr : load_cascade(file, key)) {}

void CascadeFile::detect(const cv::Mat& gray, std::vector<cv::Rect>& found, std::vector<int>& votes,
                         double scale_step, cv::Size min_size, cv::Size max_size) {
  constexpr int kNeighbours = 3;
  if (haar_)
    haar_->detect(gray, found, votes, scale_step, kNeighbours, min_size, max_size);
  else
    opencv_->detectMultiScale(gray, found, votes, scale_step, kNeighbours, 0, min_size, max_size);
}

EyeFinder::EyeFinder(const fs::path& cascade) : cascade_(eye_cascade(cascade), "preprocess.eye_cascade") {}

void preload_cascades(const PreprocessSection& p) {
  if (is_cascade(p.detector)) load_haar(face_cascade(p));
  if (p.align_eyes) load_haar(eye_cascade(p.eye_cascade));
}

std::optional<float> EyeFinder::roll_deg(const cv::Mat& gray, const cv::Rect2f& box) {
  constexpr int kEyeFaceWidth = 100;  // the eye cascade's window is 20 px
  cv::Rect r = cv::Rect(box) & cv::Rect(0, 0, gray.cols, gray.rows);
  if (r.width < 24 || r.height < 24) return std::nullopt;
  double k = std::min(1.0, kEyeFaceWidth / double(r.width));
  cv::resize(gray(r), small_, cv::Size(), k, k, cv::INTER_LINEAR);
  return roll_deg(small_);
}

std::optional<float> EyeFinder::roll_deg(const cv::Mat& face_gray) {
  if (face_gray.empty()) return std::nullopt;
  // Eyes lie in the upper 60% of a face box and are about a fifth of its width.
  cv::Mat upper = face_gray(cv::Rect(0, 0, face_gray.cols, face_gray.rows * 6 / 10)).clone();
  cv::equalizeHist(upper, upper);
  std::vector<cv::Rect> eyes;
  int lo = std::max(8, face_gray.cols / 7), hi = std::max(lo + 1, face_gray.cols / 3);
  std::vector<int> votes;
  cascade_.detect(upper, eyes, votes, 1.1, cv::Size(lo, lo), cv::Size(hi, hi));
  std::vector<cv::Point2f> left, right;
  float mid = face_gray.cols / 2.f;
  for (const auto& e : eyes) {
    cv::Point2f c(e.x + e.width / 2.f, e.y + e.height / 2.f);
    (c.x < mid ? left : right).push_back(c);
  }
  if (left.size() != 1 || right.size() != 1) return std::nullopt;
  float deg = std::atan2(right[0].y - left[0].y, right[0].x - left[0].x) * 180.f / float(CV_PI);
  if (std::abs(deg) > 30) return std::nullopt;  // not a plausible pair of eyes
  return deg;
}

}  // namespace psmflow::video
