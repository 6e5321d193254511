// The preprocess stage over many subjects: each through run_stage(), several at a time.
#include <opencv2/core/utility.hpp>

#include <atomic>
#include <thread>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/placement.hpp"
#include "psmflow/video/detect.hpp"
#include "psmflow/video/landmarks.hpp"
#include "psmflow/video/preprocess.hpp"

namespace psmflow {
namespace {

class OpenCvThreads {
 public:
  explicit OpenCvThreads(int n) : before_(cv::getNumThreads()) { cv::setNumThreads(n); }
  ~OpenCvThreads() { cv::setNumThreads(before_); }
  OpenCvThreads(const OpenCvThreads&) = delete;
  OpenCvThreads& operator=(const OpenCvThreads&) = delete;

 private:
  int before_;
};

// Each subject keeps about two cores busy (decode, and detect+crop+write).
int concurrent_subjects(const Config& cfg, std::size_t subjects) {
  const int threads = threads_per_rank(cfg.run.threads, 1);
  return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(subjects, std::max(1, threads / 2))));
}

StageResult work(const Config& cfg, const RunDir& run, const SubjectSpec& s, const std::vector<SourceFile>& sources) {
  fs::create_directories(run.subject_dir(s.id));
  AtomicPath frames(run.frames(s.id));
  std::string png, partial;
  PreprocessStats st = preprocess_subject(cfg, s, sources, frames.temp().string(), png, partial);
  write_file_atomic(run.contact_sheet(s.id), png);
  if (st.detected == 0)
    throw StageError(s.input.string() + ": no face found in any of its " + std::to_string(st.frames) +
                     " frames (see " + run.contact_sheet(s.id).string() + ")");
  frames.commit();
  for (const auto& w : st.warnings) spdlog::warn("{} preprocess: {}", s.id, w);
  if (!partial.empty())
    throw StageError(partial + "; the " + std::to_string(st.frames) + " decoded frames are kept in " +
                     run.frames(s.id).string());
  double rate = 100.0 * st.detected / st.frames;
  spdlog::info("{} preprocess: {} frames, face found in {:.1f}%, {:.0f} frames/s; {} frames kept for training "
               "(confidence >= {})", s.id, st.frames, rate, st.frames / std::max(st.seconds, 1e-9), st.confident,
               cfg.preprocess.min_confidence);
  StageResult r;
  r.outputs = {run.frames(s.id), run.contact_sheet(s.id)};
  r.details = {{"frames", std::to_string(st.frames)},
               {"detected", std::to_string(st.detected)},
               {"detection_rate", fmt::format("{:.4f}", rate / 100)},
               {"kept", std::to_string(st.confident)},
               {"warnings", std::to_string(st.warnings.size())}};
  return r;
}

StageOutcome run_one(const Config& cfg, Manifest& m, const SubjectSpec& s, bool force) {
  std::vector<SourceFile> sources;
  std::string hash, unreadable;
  try {
    sources = subject_sources(s, cfg.data.label_format);
    hash = input_hash(sources);
  } catch (const std::exception& e) {
    // Still recorded through run_stage, so the manifest names the unreadable file.
    unreadable = e.what();
    hash = "unreadable";
  }
  return run_stage(m, s.id, stage::preprocess, hash, pipeline::config_hash(cfg, stage::preprocess), [&] {
    if (!unreadable.empty()) throw StageError(unreadable);
    return work(cfg, m.run(), s, sources);
  }, force || !unreadable.empty());
}

}  // namespace

int run_preprocess(const Config& cfg, Manifest& m, const std::vector<SubjectSpec>& subjects, bool force) {
  // Each pipeline's detector thread is its busiest: OpenCV's pool (TBB, idle workers sleep) lends
  // the cascade the cores that decoding and writing leave idle. On Megamind with 2 cores: 545
  // instead of 475 frames/s, for 5% more CPU. The caller's setting comes back afterwards.
  OpenCvThreads opencv(threads_per_rank(cfg.run.threads, 1));
  // A missing or broken landmark model concerns every subject: it fails here, before any video is read.
  video::shared_landmark_model(cfg.preprocess.landmark_model);
  video::preload_cascades(cfg.preprocess);
  std::atomic<std::size_t> next{0};
  std::atomic<int> failed{0};
  std::exception_ptr usage;
  std::mutex usage_mu;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < subjects.size();) {
      try {
        if (run_one(cfg, m, subjects[i], force) == StageOutcome::failed) ++failed;
      } catch (const UsageError&) {
        std::lock_guard<std::mutex> lock(usage_mu);
        if (!usage) usage = std::current_exception();
        next = subjects.size();
      }
    }
  };
  int jobs = concurrent_subjects(cfg, subjects.size());
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (usage) std::rethrow_exception(usage);
  return failed;
}

}  // namespace psmflow
