#include "psmflow/video/preprocess.hpp"

#include <opencv2/core/utility.hpp>

#include <chrono>
#include <exception>
#include <thread>

#include "psmflow/error.hpp"
#include "psmflow/hash.hpp"
#include "psmflow/log.hpp"
#include "psmflow/video/align.hpp"
#include "psmflow/video/contact_sheet.hpp"
#include "psmflow/video/decode.hpp"
#include "psmflow/video/labels.hpp"
#include "psmflow/video/track.hpp"
#include "video/queue.hpp"

namespace psmflow {
namespace {

using video::BoundedQueue;

struct Crop {
  std::vector<std::uint8_t> rgb;
  std::int64_t index = 0;
  double time_s = 0;
  std::array<float, 4> box{};
  bool detected = false;
};

// Records the first failure of any pipeline thread and stops the others.
class FirstError {
 public:
  template <typename F>
  void guard(F&& body, std::initializer_list<std::function<void()>> on_fail) {
    try {
      body();
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
      for (const auto& f : on_fail) f();
    }
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mu_;
  std::exception_ptr error_;
};

Crop make_crop(const video::TrackedFrame& t, const PreprocessSection& p) {
  Crop c;
  cv::Mat rgb;
  video::crop_face(t.frame.bgr, t.box, t.roll_deg, p.margin, p.crop_size, rgb);
  c.rgb.assign(rgb.data, rgb.data + rgb.total() * rgb.elemSize());
  c.index = t.frame.index;
  c.time_s = t.frame.time_s;
  c.box = {t.box.x, t.box.y, t.box.width, t.box.height};
  c.detected = t.detected;
  return c;
}

FramesMeta frames_meta(const Config& cfg, const SubjectSpec& s, const std::vector<SourceFile>& sources, double fps) {
  FramesMeta m;
  m.subject = s.id;
  m.sources = sources;
  m.fps = fps;
  m.crop_size = cfg.preprocess.crop_size;
  m.psmflow_version = PSMFLOW_VERSION;
  m.config_hash = cfg.stage_hash("preprocess");
  return m;
}

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

  auto source = video::open_source(s.input, {p.frame_start, p.frame_end, p.frame_stride}, cfg.data.label_frame_base);
  auto detector = video::make_detector(p);
  std::unique_ptr<video::EyeFinder> eyes;
  if (p.align_eyes) eyes = std::make_unique<video::EyeFinder>(p.eye_cascade);
  video::FaceTracker tracker(*detector, eyes.get(), {p.detect_every, p.detect_width, p.align_eyes});
  FramesWriter writer(frames_out, frames_meta(cfg, s, sources, source->fps()));

  BoundedQueue<video::Frame> decoded(std::max(8, 2 * p.detect_every));
  BoundedQueue<Crop> crops(64);
  FirstError failure;
  auto stop_all = [&] { decoded.abort(); crops.abort(); };
  std::thread decode_thread([&] {
    failure.guard([&] {
      video::Frame f;
      while (source->next(f) && decoded.push(std::move(f))) f = video::Frame{};
      decoded.close();
    }, {stop_all});
  });
  std::thread track_thread([&] {
    failure.guard([&] {
      video::Frame f;
      auto send = [&](std::vector<video::TrackedFrame>&& done) {
        for (const auto& t : done) crops.push(make_crop(t, p));
      };
      while (decoded.pop(f)) send(tracker.push(std::move(f)));
      send(tracker.finish());
      crops.close();
    }, {stop_all});
  });
  PreprocessStats st;
  std::vector<std::int64_t> frame_index;
  failure.guard([&] {
    Crop c;
    while (crops.pop(c)) {
      writer.append(c.rgb.data(), c.index, c.time_s, c.box, c.detected);
      frame_index.push_back(c.index);
      st.detected += c.detected;
    }
  }, {stop_all});
  decode_thread.join();
  track_thread.join();
  failure.rethrow();

  st.frames = static_cast<std::int64_t>(frame_index.size());
  st.detector_calls = tracker.detector_calls();
  partial_error = source->error();
  if (st.frames == 0)
    throw StageError(partial_error.empty() ? s.input.string() + ": no frames in the selected range" : partial_error);
  if (!s.labels.empty())
    writer.set_labels(video::align_labels(labels, cfg.data.aus, frame_index, source->expected_frames(), st.warnings));
  writer.close();
  contact_sheet_png = video::contact_sheet_png(frames_out, s.id, p.contact_sheet_tiles);
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace psmflow
