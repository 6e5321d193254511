// The collector's readers of a real run directory: frames.h5 and embeddings.h5 for the
// person-independent F1, and a sample of aligned faces (preprocess's contact sheet, else crops).
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "psmflow/core/fs.hpp"
#include "psmflow/report/report.hpp"
#include "psmflow/store/frames.hpp"

namespace psmflow::report {

namespace {

// Eight evenly spaced crops in a row, enlarged 2x so faces are visible in the report.
std::string crops_png(const fs::path& frames_file) {
  FramesReader frames(frames_file);
  const std::int64_t n = frames.size();
  if (n == 0) return {};
  const int c = frames.crop_size(), tiles = static_cast<int>(std::min<std::int64_t>(8, n));
  cv::Mat sheet(c, c * tiles, CV_8UC3, cv::Scalar(255, 255, 255));
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(c) * c * 3);
  for (int t = 0; t < tiles; ++t) {
    frames.read(t * n / tiles, buf.data());
    cv::Mat rgb(c, c, CV_8UC3, buf.data());
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    bgr.copyTo(sheet(cv::Rect(t * c, 0, c, c)));
  }
  cv::resize(sheet, sheet, cv::Size(), 2, 2, cv::INTER_NEAREST);
  std::vector<uchar> png;
  if (!cv::imencode(".png", sheet, png)) throw std::runtime_error("cannot encode a PNG of " + frames_file.string());
  return {png.begin(), png.end()};
}

}  // namespace

Sources run_sources(const RunDir& run, const Config& cfg) {
  Sources s;
  std::string embedding = cfg.model.embedding;
  s.subject_data = [run, embedding](const std::string& id) -> std::optional<eval::SubjectData> {
    if (!fs::exists(run.embeddings_dir(id)) || !fs::exists(run.frames(id))) return std::nullopt;
    return eval::load_subject(run, id, embedding);
  };
  s.faces_png = [run](const std::string& id) -> std::string {
    if (fs::exists(run.contact_sheet(id))) return read_file(run.contact_sheet(id));
    if (fs::exists(run.frames(id))) return crops_png(run.frames(id));
    return {};
  };
  return s;
}

}  // namespace psmflow::report
