// Small drawn-face test videos (the synthetic cohort of `psmflow synth` is bigger): a cartoon
// face that OpenCV's Haar cascade finds, moving on a path, with its true centre per frame.
#pragma once
#include <opencv2/core.hpp>

#include <filesystem>
#include <functional>
#include <vector>

namespace psmflow::test {

struct FacePose {
  cv::Point2f centre;
  float half_width = 50;  // the face oval is 2*half_width wide and 2.6*half_width tall
  float roll_deg = 0;
  bool visible = true;
};

// One BGR frame with the face drawn at `pose` (or only background when not visible).
cv::Mat draw_face_frame(cv::Size size, const FacePose& pose, int seed);
// A gentle default path: the face drifts left-right and up-down and breathes in size.
FacePose default_path(int frame, cv::Size size);
// Writes an MJPG AVI and returns the pose of every frame.
std::vector<FacePose> write_face_video(const std::filesystem::path& file, int frames, cv::Size size,
                                       const std::function<FacePose(int)>& path, double fps = 25);

}  // namespace psmflow::test
