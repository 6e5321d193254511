// Face tracking between detections. The detector runs on every `detect_every`-th frame
// ("keyframes"): every other keyframe over the whole image for faces of 0.7-2 times the tracked
// one (a cut, a zoom or a drift onto something else shows), the others in a window around the
// last box for faces of 0.8-1.25 times its size, and over the whole image too when that finds no
// face like the tracked one. Frames in between get the box interpolated between the two
// keyframes (the face of one subject moves little and smoothly); when the face is far away (a
// jump) or gone, the frames in between are searched one by one instead. While no face is tracked
// ("lost"), keyframes are searched over the whole (downscaled) image at every size, and when the
// face is back, the frames before that keyframe are searched near it, walking back until one has
// no face.
// A frame whose face was not found keeps the last tracked box (a black crop before any box) and
// is marked detected = false; no frame is dropped.
#pragma once
#include <deque>
#include <optional>
#include <vector>

#include "psmflow/video/decode.hpp"
#include "psmflow/video/detect.hpp"

namespace psmflow::video {

struct TrackedFrame {
  Frame frame;
  cv::Rect2f box;   // source pixels; empty before the first face
  float roll_deg = 0;  // from the detector's own eye points (YuNet); 0 from the others
  bool detected = false;
  float score = 0;  // the detector's 0..1 score (interpolated between keyframes), 0 when not detected
};

struct TrackerOptions {
  int detect_every = 5;
  int detect_width = 320;
  bool align_eyes = true;
};

class FaceTracker {
 public:
  FaceTracker(FaceDetector& detector, const TrackerOptions& opt);
  // Feeds the next frame; returns the frames whose box is now final, in order.
  std::vector<TrackedFrame> push(Frame frame);
  // Flushes the frames still buffered at the end of the stream.
  std::vector<TrackedFrame> finish();

  struct Found {
    cv::Rect2f box;
    std::optional<float> roll;
    float score = 0;
  };
  // Where and at which sizes locate() searches, given a prior box.
  enum class Search {
    near,        // around the prior, 0.8-1.25 times its size
    like_prior,  // the whole image, 0.7 to 2 times the prior's size
    everything,  // the whole image, every size
  };
  // One detection on one frame; of several faces the one most like `prior` (the largest without
  // one, which always searches everything).
  std::optional<Found> locate(const cv::Mat& bgr, const std::optional<cv::Rect2f>& prior,
                              Search search = Search::near);
  int detector_calls() const { return calls_; }

 private:
  std::vector<TrackedFrame> resolve_keyframe();
  std::vector<TrackedFrame> resolve_lost();
  void emit_interpolated(const Found& a, const Found& b, std::vector<TrackedFrame>& out);
  void emit_searched(std::vector<TrackedFrame>& out);
  void emit_jumped(const Found& b, std::vector<TrackedFrame>& out);
  TrackedFrame held(Frame&& f) const;

  FaceDetector& detector_;
  TrackerOptions opt_;
  std::optional<Found> last_;   // last keyframe's face while tracking; empty when lost
  cv::Rect2f last_box_;         // last known box, held through misses
  float last_roll_ = 0;
  std::deque<Frame> pending_;   // frames after the last keyframe
  cv::Mat grey_;                // the searched region in grey, for detectors that take it
  int calls_ = 0;
  int keyframes_ = 0;           // while tracking: every other one searches the whole image first
};

}  // namespace psmflow::video
