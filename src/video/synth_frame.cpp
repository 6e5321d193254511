// A full video frame: the subject's room, the face posed into it (translation, roll, scale),
// slow light changes across the frame, an occluder when planned, and sensor noise.
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "psmflow/video/synth.hpp"
#include "synth_draw.hpp"

namespace psmflow::synth {

namespace {

// A plain wall with a darker band and a door-like panel: texture a detector must ignore.
cv::Mat background(const Subject& s, cv::Size size) {
  cv::Mat bg(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    double t = static_cast<double>(y) / size.height;
    bg.row(y).setTo(s.background_a * (1 - 0.35 * t) + s.background_b * (0.35 * t));
  }
  const int w = size.width, h = size.height;
  cv::rectangle(bg, cv::Rect(0, h * 7 / 10, w, h), s.background_b, cv::FILLED);
  const int panel_x = (s.index % 2 == 0) ? w / 14 : w - w / 14 - w / 6;
  cv::rectangle(bg, cv::Rect(panel_x, h / 8, w / 6, h * 3 / 4), s.background_b * 0.9, cv::FILLED);
  cv::rectangle(bg, cv::Rect(panel_x, h / 8, w / 6, h * 3 / 4), s.background_b * 0.7, 2);
  return bg;
}

// Canvas -> frame: the face centre goes to the posed position, scaled so that an average face
// oval fills about 58% of the frame height.
cv::Matx23d pose_matrix(const Subject& s, const Pose& p, cv::Size size) {
  const double scale = size.height * 0.58 / 170.0 * s.framing_scale * p.scale;
  const double r = p.roll_deg * CV_PI / 180, c = std::cos(r) * scale, sn = std::sin(r) * scale;
  const double tx = size.width * (0.5 + p.dx), ty = size.height * (0.47 + p.dy);
  return {c, -sn, tx - c * kFaceCentre.x + sn * kFaceCentre.y, sn, c, ty - sn * kFaceCentre.x - c * kFaceCentre.y};
}

cv::Rect2f bounds(const std::vector<cv::Point2f>& p) {
  float x0 = p[0].x, x1 = p[0].x, y0 = p[0].y, y1 = p[0].y;
  for (const auto& q : p) {
    x0 = std::min(x0, q.x), x1 = std::max(x1, q.x);
    y0 = std::min(y0, q.y), y1 = std::max(y1, q.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

void draw_occluder(FaceImage& f, const cv::Rect2f& r) {
  cv::Rect box(r);
  cv::rectangle(f.bgr, box, cv::Scalar(70, 85, 100), cv::FILLED);
  for (int k = 1; k < 4; ++k)  // a few seams so it reads as an object, not a flat patch
    cv::line(f.bgr, {box.x, box.y + k * box.height / 4}, {box.x + box.width, box.y + k * box.height / 4},
             cv::Scalar(55, 65, 80), 2, cv::LINE_AA);
  cv::rectangle(f.alpha, box, cv::Scalar(255), cv::FILLED);
}

// bg + alpha * (face - bg), then exposure and a left-right light gradient, then noise.
cv::Mat composite(const cv::Mat& bg, const cv::Mat& face, const cv::Mat& alpha, const FrameState& st, const cv::Mat& noise) {
  cv::Mat out(bg.size(), CV_8UC3);
  const float w = static_cast<float>(bg.cols);
  for (int y = 0; y < bg.rows; ++y) {
    const auto* b = bg.ptr<cv::Vec3b>(y);
    const auto* f = face.ptr<cv::Vec3b>(y);
    const uchar* a = alpha.ptr<uchar>(y);
    const float* n = noise.empty() ? nullptr : noise.ptr<float>(y);
    auto* o = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bg.cols; ++x) {
      const float k = a[x] / 255.f, light = st.light_gain * (1 + st.light_slope * (x / w - 0.5f));
      for (int c = 0; c < 3; ++c) {
        float v = (b[x][c] + k * (f[x][c] - b[x][c])) * light;
        if (n) v += n[3 * x + c];
        o[x][c] = cv::saturate_cast<uchar>(v);
      }
    }
  }
  return out;
}

}  // namespace

cv::Mat render_frame(const Subject& s, const FrameState& st, cv::Size size, bool noise, FrameTruth* truth) {
  FaceImage f = render_face(s, st.au, st.blink, st.idio);
  if (st.occluded) draw_occluder(f, st.occluder);
  const cv::Matx23d m = pose_matrix(s, st.pose, size);
  cv::Mat face, alpha;
  cv::warpAffine(f.bgr, face, m, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  cv::warpAffine(f.alpha, alpha, m, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  cv::Mat grain;
  if (noise) {
    grain.create(size.height, size.width * 3, CV_32F);
    cv::RNG rng(st.noise_seed);
    rng.fill(grain, cv::RNG::NORMAL, 0.0, s.noise_sigma);
  }
  if (truth) {
    std::vector<cv::Point2f> posed;
    cv::transform(f.outline, posed, m);
    truth->face_box = bounds(posed);
    truth->in_frame = (truth->face_box & cv::Rect2f(0, 0, size.width, size.height)) == truth->face_box;
  }
  return composite(background(s, size), face, alpha, st, grain);
}

}  // namespace psmflow::synth
