#include "psmflow/video/preprocess.hpp"
#include "psmflow/pipeline/stages.hpp"

#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <pthread.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/video/align.hpp"
#include "psmflow/video/contact_sheet.hpp"
#include "psmflow/video/decode.hpp"
#include "psmflow/video/detect.hpp"
#include "psmflow/video/labels.hpp"
#include "psmflow/video/landmarks.hpp"
#include "psmflow/video/track.hpp"
#include "queue.hpp"

namespace psmflow {
namespace {

using video::BoundedQueue;

// Named threads show in `top -H`, perf and gdb as what they do (Linux: at most 15 characters).
void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

// Records the first failure of any pipeline thread and stops the others.
class FirstError {
 public:
  explicit FirstError(std::function<void()> stop_all) : stop_all_(std::move(stop_all)) {}
  template <typename F>
  void guard(F&& body) {
    try {
      body();
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
      stop_all_();
    }
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::function<void()> stop_all_;
  std::mutex mu_;
  std::exception_ptr error_;
};

// Frame buffers go back from the writer to the decoder instead of a fresh megabyte-sized
// allocation per frame.
class BufferPool {
 public:
  cv::Mat take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return {};
    cv::Mat m = std::move(free_.back());
    free_.pop_back();
    return m;
  }
  void give(cv::Mat&& m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMax && m.u && m.u->refcount == 1) free_.push_back(std::move(m));
  }

 private:
  static constexpr std::size_t kMax = 64;
  std::mutex mu_;
  std::vector<cv::Mat> free_;
};

// Frames the range and stride will keep, for progress lines (0 = unknown).
std::int64_t kept_estimate(const video::FrameSource& src, const PreprocessSection& p) {
  std::int64_t n = src.expected_frames();
  if (n <= 0) return 0;
  if (p.frame_end >= 0) n = std::min<std::int64_t>(n, p.frame_end);
  n = std::max<std::int64_t>(0, n - p.frame_start);
  return (n + p.frame_stride - 1) / p.frame_stride;
}

FramesMeta frames_meta(const Config& cfg, const SubjectSpec& s, const std::vector<SourceFile>& sources, double fps) {
  FramesMeta m;
  m.subject = s.id;
  m.sources = sources;
  m.fps = fps;
  m.crop_size = cfg.preprocess.crop_size;
  m.psmflow_version = PSMFLOW_VERSION;
  m.config_hash = pipeline::config_hash(cfg, stage::preprocess);
  m.min_confidence = cfg.preprocess.min_confidence;
  return m;
}

// Fits the landmarks on each detected frame and crops the face from them; collects the
// landmarks and confidences for frames.h5.
class FaceFitter {
 public:
  FaceFitter(const PreprocessSection& p, std::shared_ptr<const video::LandmarkModel> model)
      : p_(p), model_(std::move(model)), cascade_boxes_(video::is_cascade(p.detector)) {
    if (p.align_eyes && p.detector != "dnn") eyes_.emplace(p.eye_cascade);
  }
  // The square and roll to crop, from the landmarks when they fit.
  video::FacePlacement place(const video::TrackedFrame& t) {
    ++frame_;
    video::FacePlacement from_box{t.box, t.roll_deg};
    if (!t.detected) {
      smoother_.reset();
      eye_frame_.reset();
      add(nullptr, 0, 0);
      return from_box;
    }
    video::LandmarkFit fit = model_->fit(t.frame.bgr, cascade_boxes_ ? video::dlib_box_from_cascade(t.box) : t.box);
    video::LandmarkSet points = p_.smooth_landmarks ? smoother_.push(fit.points, seconds_since_last(t.frame)) : fit.points;
    // Both must hold: a face the detector is sure of, and a face-like landmark fit on it.
    add(&points, std::sqrt(t.score * fit.fit), fit.fit);
    // YuNet's own eye points give the roll with detector = dnn, as they did before landmarks.
    if (p_.detector == "dnn") return from_box;
    if (fit.fit < video::kLandmarkAlignFit) {
      from_box.roll_deg = eye_roll(t.frame.bgr, t.box);
      return from_box;
    }
    video::FacePlacement aligned = video::face_placement(points);
    if (!p_.align_eyes) aligned.roll_deg = 0;
    return aligned;
  }
  std::vector<float> xy, confidence, fits;

 private:
  void add(const video::LandmarkSet* points, float conf, float fit) {
    for (int i = 0; i < video::kLandmarks; ++i) {
      cv::Point2f q = points ? (*points)[i] : cv::Point2f(NAN, NAN);  // NaN: no face, no landmarks
      xy.push_back(q.x);
      xy.push_back(q.y);
    }
    confidence.push_back(conf);
    fits.push_back(fit);
  }

  // Landmarks that do not fit leave the eye cascade to level the crop. It runs here, on those
  // frames only, rather than on the tracker's keyframes (Megamind: 16 of 269 frames, where the
  // tracker searched eyes on 25 keyframes: 10% more frames/s), and at most on every kEyesEvery-th
  // frame, since the head's roll changes slowly; frames in between keep the last angle found.
  float eye_roll(const cv::Mat& bgr, const cv::Rect2f& box) {
    constexpr long kEyesEvery = 5;
    if (!eyes_) return 0;
    if (!eye_frame_ || frame_ - *eye_frame_ >= kEyesEvery) {
      eye_frame_ = frame_;
      cv::cvtColor(bgr, gray_, cv::COLOR_BGR2GRAY);
      if (auto r = eyes_->roll_deg(gray_, box)) eye_roll_ = *r;
    }
    return eye_roll_;
  }

  // From the frames' times; a folder of images has none, and is taken as 30 frames/s.
  double seconds_since_last(const video::Frame& f) {
    double dt = std::isfinite(f.time_s) ? f.time_s - last_time_ : (f.index - last_index_) / 30.0;
    last_time_ = f.time_s;
    last_index_ = f.index;
    return dt;
  }

  const PreprocessSection& p_;
  std::shared_ptr<const video::LandmarkModel> model_;
  // Boxes to move onto dlib's convention before fitting, measured for the cascades only: dlib's
  // detector gives the model's own boxes, and YuNet's were not compared (no YuNet model here).
  const bool cascade_boxes_;
  video::LandmarkSmoother smoother_;
  std::optional<video::EyeFinder> eyes_;
  long frame_ = 0;
  std::optional<long> eye_frame_;  // when the eyes were last searched; none since the face was lost
  float eye_roll_ = 0;
  double last_time_ = NAN;
  std::int64_t last_index_ = 0;
  cv::Mat gray_;
};

// A tracked frame with the square and roll its crop takes, and its confidence.
struct Placed {
  video::TrackedFrame tracked;
  video::FacePlacement place;
  float confidence = 0;
};

}  // namespace

std::vector<SourceFile> subject_sources(const SubjectSpec& s, const std::string& label_format) {
  std::vector<SourceFile> out;
  std::error_code ec;
  if (!fs::exists(s.input, ec)) throw StageError(s.input.string() + ": no such file or folder");
  out.push_back({fs::absolute(s.input).string(), sha256_path(s.input)});
  for (const auto& f : video::label_files(s.labels, label_format))
    out.push_back({fs::absolute(f).string(), sha256_file(f)});
  return out;
}

std::string input_hash(const std::vector<SourceFile>& sources) {
  Sha256 h;
  for (const auto& s : sources) h.update(s.path).update(std::string(1, '\0')).update(s.sha256).update("\n");
  return h.hex();
}

PreprocessStats preprocess_subject(const Config& cfg, const SubjectSpec& s, const std::vector<SourceFile>& sources,
                                   const std::string& frames_out, std::string& contact_sheet_png,
                                   std::string& partial_error) {
  const PreprocessSection& p = cfg.preprocess;
  auto t0 = std::chrono::steady_clock::now();
  // Labels first: a broken label file fails the subject before any decoding work.
  video::LabelTable labels;
  if (!s.labels.empty()) labels = video::read_labels(s.labels, cfg.data.label_format, cfg.data.label_frame_base, cfg.data.aus);
  FaceFitter fitter(p, video::shared_landmark_model(p.landmark_model));  // a bad model fails before decoding

  auto source = video::open_source(s.input, {p.frame_start, p.frame_end, p.frame_stride}, cfg.data.label_frame_base);
  FramesWriter writer(frames_out, frames_meta(cfg, s, sources, source->fps()));
  auto t_setup = std::chrono::steady_clock::now();

  // Four threads: decode; detect and track; landmarks (fit, smooth, place the crop); crop and
  // write. The landmarks have a thread of their own since the cascade got fast: with them the
  // writer was the slowest (0.9 ms per Megamind frame, 2-core EPYC). The cascades were read
  // before the first subject (video::preload_cascades), so tracking starts at once.
  const int depth = std::max(8, 2 * p.detect_every);
  BoundedQueue<video::Frame> decoded(depth);
  BoundedQueue<video::TrackedFrame> tracked(depth);
  BoundedQueue<Placed> placed(depth);
  FirstError failure([&] {
    decoded.abort();
    tracked.abort();
    placed.abort();
  });
  BufferPool buffers;
  std::thread decode_thread([&] {
    name_this_thread("psmflow-decode");
    failure.guard([&] {
      video::Frame f;
      f.bgr = buffers.take();
      while (source->next(f) && decoded.push(std::move(f))) f.bgr = buffers.take();
      decoded.close();
    });
  });
  int detector_calls = 0;
  std::thread track_thread([&] {
    name_this_thread("psmflow-track");
    failure.guard([&] {
      auto detector = video::make_detector(p);
      video::FaceTracker tracker(*detector, {p.detect_every, p.detect_width, p.align_eyes});
      video::Frame f;
      auto send = [&](std::vector<video::TrackedFrame>&& done) {
        for (auto& t : done) tracked.push(std::move(t));
      };
      while (decoded.pop(f)) send(tracker.push(std::move(f)));
      send(tracker.finish());
      detector_calls = tracker.detector_calls();
      tracked.close();
    });
  });
  std::thread fit_thread([&] {
    name_this_thread("psmflow-fit");
    failure.guard([&] {
      video::TrackedFrame t;
      while (tracked.pop(t)) {
        video::FacePlacement place = fitter.place(t);
        placed.push({std::move(t), place, fitter.confidence.back()});
      }
      placed.close();
    });
  });
  PreprocessStats st;
  std::vector<std::int64_t> frame_index;
  failure.guard([&] {
    Placed f;
    cv::Mat rgb;
    Progress progress(s.id + " preprocess", static_cast<std::size_t>(kept_estimate(*source, p)));
    while (placed.pop(f)) {
      progress.add();
      const video::TrackedFrame& t = f.tracked;
      video::crop_face(t.frame.bgr, f.place.box, f.place.roll_deg, p.margin, p.crop_size, rgb);
      writer.append(rgb.data, t.frame.index, t.frame.time_s, {t.box.x, t.box.y, t.box.width, t.box.height}, t.detected);
      frame_index.push_back(t.frame.index);
      st.detected += t.detected;
      st.confident += t.detected && f.confidence >= p.min_confidence;
      buffers.give(std::move(f.tracked.frame.bgr));
    }
  });
  decode_thread.join();
  track_thread.join();
  fit_thread.join();
  failure.rethrow();

  auto t_pipeline = std::chrono::steady_clock::now();
  st.frames = static_cast<std::int64_t>(frame_index.size());
  st.detector_calls = detector_calls;
  partial_error = source->error();
  if (st.frames == 0)
    throw StageError(partial_error.empty() ? s.input.string() + ": no frames in the selected range" : partial_error);
  if (!s.labels.empty())
    writer.set_labels(video::align_labels(labels, cfg.data.aus, frame_index, source->expected_frames(), st.warnings));
  writer.set_landmarks(std::move(fitter.xy), std::move(fitter.confidence), std::move(fitter.fits));
  writer.close();
  contact_sheet_png = video::contact_sheet_png(frames_out, s.id, p.contact_sheet_tiles, p.margin);
  auto t_end = std::chrono::steady_clock::now();
  st.seconds = std::chrono::duration<double>(t_end - t0).count();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  spdlog::debug("{} preprocess: setup {:.3f} s, pipeline {:.3f} s ({:.0f} frames/s, {} detector calls), finish {:.3f} s",
                s.id, secs(t0, t_setup), secs(t_setup, t_pipeline), st.frames / secs(t_setup, t_pipeline),
                st.detector_calls, secs(t_pipeline, t_end));
  return st;
}

}  // namespace psmflow
