#include "psmflow/video/contact_sheet.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "psmflow/store/frames.hpp"
#include "psmflow/video/align.hpp"

namespace psmflow::video {
namespace {

constexpr int kColumns = 8;
constexpr int kMinTile = 96;  // small crops are enlarged so faces stay recognisable
constexpr int kHeader = 28;

// Frame i's landmarks, where preprocess put them in its crop (then scaled to the tile); none when
// the file has none, the face was not found, or the crop came from the box (landmarks off).
void draw_landmarks(const FramesReader& r, std::int64_t i, double margin, int tile, cv::Mat& img) {
  const std::size_t k = static_cast<std::size_t>(i);
  if (r.landmark_fit().empty() || !r.detected()[k] || r.landmark_fit()[k] < kLandmarkAlignFit) return;
  LandmarkSet points;
  for (int j = 0; j < kLandmarks; ++j) points[j] = {r.landmarks()[(k * kLandmarks + j) * 2], r.landmarks()[(k * kLandmarks + j) * 2 + 1]};
  FacePlacement place = face_placement(points);
  cv::Matx23d m = crop_transform(place.box, place.roll_deg, margin, tile);
  for (const auto& p : points) {
    cv::Point2d q(m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2), m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2));
    cv::circle(img, cv::Point(int(std::lround(q.x)), int(std::lround(q.y))), 1, cv::Scalar(0, 255, 0), -1);
  }
}

}  // namespace

std::string contact_sheet_png(const std::filesystem::path& frames_h5, const std::string& subject, int tiles,
                              double margin) {
  FramesReader r(frames_h5);
  const std::int64_t n = r.size();
  const int crop = r.crop_size();
  const int count = static_cast<int>(std::min<std::int64_t>(tiles, n));
  const int tile = std::max(crop, kMinTile);
  const int cols = std::max(1, std::min(kColumns, count));
  const int rows = (count + cols - 1) / cols;
  cv::Mat sheet(kHeader + rows * tile, std::max(cols * tile, 360), CV_8UC3, cv::Scalar(32, 32, 32));

  std::int64_t found = 0;
  for (auto d : r.detected()) found += d;
  char header[256];
  std::snprintf(header, sizeof(header), "%s: %lld frames, face found in %.1f%%", subject.c_str(), (long long)n,
                n ? 100.0 * found / n : 0.0);
  cv::putText(sheet, header, {6, 19}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);

  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(crop * crop * 3));
  for (int t = 0; t < count; ++t) {
    std::int64_t i = count > 1 ? t * (n - 1) / (count - 1) : 0;
    r.read(i, rgb.data());
    cv::Mat face(crop, crop, CV_8UC3, rgb.data()), bgr, big;
    cv::cvtColor(face, bgr, cv::COLOR_RGB2BGR);
    cv::resize(bgr, big, cv::Size(tile, tile), 0, 0, tile == crop ? cv::INTER_NEAREST : cv::INTER_LINEAR);
    if (!r.detected()[static_cast<std::size_t>(i)]) cv::rectangle(big, {0, 0, tile, tile}, cv::Scalar(0, 0, 255), 3);
    draw_landmarks(r, i, margin, tile, big);
    cv::putText(big, std::to_string(r.frame_index()[static_cast<std::size_t>(i)]), {3, tile - 5},
                cv::FONT_HERSHEY_PLAIN, 0.9, cv::Scalar(0, 255, 255), 1);
    big.copyTo(sheet(cv::Rect((t % cols) * tile, kHeader + (t / cols) * tile, tile, tile)));
  }
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", sheet, png)) throw std::runtime_error(frames_h5.string() + ": cannot encode the contact sheet");
  return std::string(png.begin(), png.end());
}

}  // namespace psmflow::video
