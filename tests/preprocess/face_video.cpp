#include "face_video.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>
#include <stdexcept>

namespace psmflow::test {
namespace {

cv::Point at(cv::Point2f c, float dx, float dy) { return cv::Point(cvRound(c.x + dx), cvRound(c.y + dy)); }
cv::Size axes(float a, float b) { return cv::Size(cvRound(a), cvRound(b)); }

void draw_face(cv::Mat& img, cv::Point2f c, float s) {
  cv::ellipse(img, at(c, 0, -0.2f * s), axes(1.08f * s, 1.35f * s), 0, 0, 360, {30, 40, 60}, -1);  // hair
  cv::ellipse(img, at(c, 0, 0), axes(s, 1.3f * s), 0, 0, 360, {150, 170, 210}, -1);
  for (int side : {-1, 1}) {
    cv::Point2f e(c.x + side * 0.42f * s, c.y - 0.22f * s);
    cv::ellipse(img, at(e, 0, 0), axes(0.3f * s, 0.2f * s), 0, 0, 360, {95, 110, 140}, -1);             // socket
    cv::ellipse(img, at(e, 0, -0.26f * s), axes(0.3f * s, 0.07f * s), 0, 0, 360, {40, 45, 55}, -1);     // brow
    cv::ellipse(img, at(e, 0, 0), axes(0.2f * s, 0.09f * s), 0, 0, 360, {200, 200, 200}, -1);          // eye
    cv::circle(img, at(e, 0, 0), cvRound(0.09f * s), {40, 30, 20}, -1);                                  // iris
  }
  cv::ellipse(img, at(c, 0, 0.15f * s), axes(0.1f * s, 0.3f * s), 0, 0, 360, {175, 195, 230}, -1);    // nose
  cv::ellipse(img, at(c, 0, 0.42f * s), axes(0.2f * s, 0.06f * s), 0, 0, 360, {100, 110, 150}, -1);
  cv::ellipse(img, at(c, 0, 0.68f * s), axes(0.38f * s, 0.11f * s), 0, 0, 360, {80, 80, 150}, -1);    // mouth
}

}  // namespace

cv::Mat draw_face_frame(cv::Size size, const FacePose& pose, int seed) {
  cv::Mat img(size, CV_8UC3, cv::Scalar(90, 95, 100));
  cv::rectangle(img, {0, size.height * 3 / 4, size.width, size.height / 4}, {70, 80, 70}, -1);
  if (pose.visible) {
    cv::Mat face = img.clone();
    draw_face(face, pose.centre, pose.half_width);
    if (pose.roll_deg != 0) {
      cv::Mat rot = cv::getRotationMatrix2D(pose.centre, -pose.roll_deg, 1.0);
      cv::warpAffine(face, face, rot, size, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    }
    img = face;
  }
  cv::GaussianBlur(img, img, cv::Size(0, 0), 1.2);
  cv::Mat noise(size, CV_8UC3);
  cv::theRNG().state = static_cast<std::uint64_t>(seed) * 7919 + 1;
  cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(3));
  cv::add(img, noise, img);
  return img;
}

FacePose default_path(int frame, cv::Size size) {
  float t = frame / 25.f;
  FacePose p;
  p.centre = {size.width / 2.f + 0.12f * size.width * std::sin(1.3f * t),
              size.height / 2.f + 0.06f * size.height * std::sin(0.9f * t + 1)};
  p.half_width = 0.15f * size.width * (1 + 0.08f * std::sin(0.7f * t));
  return p;
}

std::vector<FacePose> write_face_video(const std::filesystem::path& file, int frames, cv::Size size,
                                       const std::function<FacePose(int)>& path, double fps) {
  cv::VideoWriter out(file.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, size);
  if (!out.isOpened()) throw std::runtime_error("cannot write test video " + file.string());
  std::vector<FacePose> poses;
  for (int i = 0; i < frames; ++i) {
    poses.push_back(path(i));
    out.write(draw_face_frame(size, poses.back(), i));
  }
  return poses;
}

}  // namespace psmflow::test
