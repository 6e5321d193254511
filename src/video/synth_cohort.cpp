// synthesize_cohort(): plans and renders every subject (one thread per subject) and writes
// DIR/videos/<id>.avi (MJPG), DIR/labels/<id>/<id>_au<k>.txt (DISFA: "frame,intensity", frames
// from 1), DIR/truth/<id>.csv (face box and idiosyncrasy intensity per frame, frames from 0) and
// DIR/cohort.json.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/videoio.hpp>
#include <sstream>
#include <thread>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/placement.hpp"
#include "psmflow/video/synth.hpp"

namespace psmflow::synth {
namespace {

void write_video(const fs::path& file, const Subject& s, const SubjectPlan& plan, const SynthOptions& opt,
                 std::vector<FrameTruth>& truth, Progress& progress, std::mutex& progress_mutex) {
  AtomicPath out(file);
  cv::VideoWriter writer(out.temp().string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                         opt.fps, opt.size);
  if (!writer.isOpened()) throw std::runtime_error("cannot open a video writer for " + file.string());
  truth.resize(plan.frames.size());
  for (std::size_t f = 0; f < plan.frames.size(); ++f) {
    writer.write(render_frame(s, plan.frames[f], opt.size, true, &truth[f]));
    if (f % 50 == 49) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      progress.add(50);
    }
  }
  writer.release();
  out.commit();
}

void write_labels(const fs::path& dir, const std::string& id, const SubjectPlan& plan) {
  auto labels = plan_labels(plan);
  for (int i = 0; i < kAuCount; ++i) {
    std::string text;
    for (std::size_t f = 0; f < labels[i].size(); ++f) text += fmt::format("{},{}\n", f + 1, labels[i][f]);
    write_file_atomic(dir / fmt::format("{}_au{}.txt", id, kAus[i]), text);
  }
}

// The idiosyncrasy goes here and never into the label files: the models must find it unaided,
// and the evaluation scores them against it. Its 0..5 intensity is rounded like the AU labels.
void write_truth(const fs::path& file, const Subject& s, const SubjectPlan& plan, const std::vector<FrameTruth>& truth) {
  const auto intensity = plan_idiosyncrasy(plan);
  const std::string kind = idiosyncrasy_name(s.idiosyncrasy);
  std::string text = std::string(kTruthColumns) + "\n";
  for (std::size_t f = 0; f < truth.size(); ++f) {
    const auto& b = truth[f].face_box;
    text += fmt::format("{},{:.2f},{:.2f},{:.2f},{:.2f},{},{},{},{},{:.3f}\n", f, b.x, b.y, b.width, b.height,
                        truth[f].in_frame ? 1 : 0, plan.frames[f].occluded ? 1 : 0, kind, intensity[f],
                        plan.frames[f].idio);
  }
  write_file_atomic(file, text);
}

nlohmann::json describe(const Subject& s, const SubjectPlan& plan) {
  const Identity& id = s.identity;
  nlohmann::json episodes = nlohmann::json::object();
  for (const auto& e : plan.episodes) episodes[e.what] = episodes.value(e.what, 0) + 1;
  return {{"id", s.id},
          {"persona", s.persona},
          {"idiosyncrasy", idiosyncrasy_name(s.idiosyncrasy)},
          {"idiosyncrasy_description", idiosyncrasy_description(s.idiosyncrasy)},
          {"identity",
           {{"face_w", id.face_w}, {"face_h", id.face_h}, {"jaw", id.jaw}, {"eye_spacing", id.eye_spacing},
            {"brow_thickness", id.brow_thickness}, {"nose_length", id.nose_length},
            {"mouth_width", id.mouth_width}, {"hair_style", id.hair_style},
            {"skin_bgr", {id.skin[0], id.skin[1], id.skin[2]}}}},
          {"episodes", episodes}};
}

struct SubjectOutput {
  nlohmann::json description;
};

SubjectOutput synthesize_subject(const SynthOptions& opt, int index, Progress& progress, std::mutex& m) {
  Subject s = make_subject(opt.seed, index);
  SubjectPlan plan = plan_subject(s, opt.frames, opt.fps, opt.seed);
  std::vector<FrameTruth> truth;
  write_video(opt.out / "videos" / (s.id + ".avi"), s, plan, opt, truth, progress, m);
  fs::create_directories(opt.out / "labels" / s.id);
  write_labels(opt.out / "labels" / s.id, s.id, plan);
  write_truth(opt.out / "truth" / (s.id + ".csv"), s, plan, truth);
  return {describe(s, plan)};
}

}  // namespace

void validate(const SynthOptions& opt) {
  if (opt.out.empty()) throw UsageError("synth: --out is required");
  if (opt.subjects < 1 || opt.subjects > 99) throw UsageError(fmt::format("synth: --subjects {} is not within 1..99", opt.subjects));
  if (opt.frames < 10) throw UsageError(fmt::format("synth: --frames {} is below 10", opt.frames));
  if (!(opt.fps > 0 && opt.fps <= 240)) throw UsageError(fmt::format("synth: --fps {} is not within (0, 240]", opt.fps));
  if (opt.size.width < 160 || opt.size.height < 120 || opt.size.width > 4096 || opt.size.height > 4096)
    throw UsageError(fmt::format("synth: --size {}x{} is not within 160x120..4096x4096", opt.size.width, opt.size.height));
  std::error_code ec;
  for (const char* sub : {"videos", "labels", "truth"}) {
    fs::create_directories(opt.out / sub, ec);
    if (ec) throw UsageError("synth: cannot create " + (opt.out / sub).string() + ": " + ec.message());
  }
}

SynthSummary synthesize_cohort(const SynthOptions& opt) {
  validate(opt);
  auto t0 = std::chrono::steady_clock::now();
  int threads = std::min(opt.subjects, threads_per_rank(opt.threads, 1));
  Progress progress("synth frames", static_cast<std::size_t>(opt.subjects) * opt.frames);
  std::mutex progress_mutex;
  std::vector<SubjectOutput> outputs(opt.subjects);
  std::vector<std::string> errors(opt.subjects);
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int i = next++; i < opt.subjects; i = next++) {
      try {
        outputs[i] = synthesize_subject(opt, i, progress, progress_mutex);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error("synth: " + e);
  progress.finish();

  nlohmann::json cohort = {{"seed", opt.seed}, {"subjects", opt.subjects}, {"frames", opt.frames}, {"fps", opt.fps},
                           {"width", opt.size.width}, {"height", opt.size.height}, {"aus", kAus},
                           {"label_format", "disfa: <id>_au<k>.txt, lines frame,intensity, frames from 1"},
                           {"truth_columns", kTruthColumns},
                           {"people", nlohmann::json::array()}};
  for (const auto& o : outputs) cohort["people"].push_back(o.description);
  write_file_atomic(opt.out / "cohort.json", cohort.dump(2) + "\n");

  SynthSummary sum;
  sum.subjects = opt.subjects;
  sum.frames = opt.subjects * opt.frames;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& e : fs::directory_iterator(opt.out / "videos")) sum.video_bytes += e.file_size();
  return sum;
}

}  // namespace psmflow::synth
