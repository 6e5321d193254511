#include "psmflow/video/track.hpp"

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "psmflow/video/shrink.hpp"

namespace psmflow::video {
namespace {

cv::Point2f centre(const cv::Rect2f& r) { return {r.x + r.width / 2, r.y + r.height / 2}; }

float distance(const cv::Rect2f& a, const cv::Rect2f& b) {
  cv::Point2f d = centre(a) - centre(b);
  return std::hypot(d.x, d.y);
}

cv::Rect2f lerp(const cv::Rect2f& a, const cv::Rect2f& b, float t) {
  return {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, a.width + (b.width - a.width) * t,
          a.height + (b.height - a.height) * t};
}

constexpr float kTrackFace = 56;
// The sizes, relative to the tracked face, that a keyframe's search over the whole image tries.
constexpr std::pair<float, float> kKeyframeSizes{0.7f, 2.f};
// Near a known face only sizes 0.8..1.25 of it are tried, so coarser steps lose little and
// cost a fifth of OpenCV's default 1.1 (measured on a 2-core VM: 1.3 ms instead of 8 ms).
constexpr double kTrackScaleStep = 1.2;
// Searches at every size: 1.15 instead of OpenCV's 1.1 kept as many faces on Megamind, the
// zoom+cut video and a synthetic subject (one more on zoom+cut) for 12% less tracking (a 1.2
// step lost 2-5 faces).
constexpr double kEverySizeStep = 1.15;

// While tracking, every kWholeImageEvery-th keyframe searches the whole image first. 3 kept as
// many faces on Megamind, zoom+cut and a synthetic subject for 5-10% less tracking (one
// thread), but with the 1.15 step above it put synthetic boxes 5.7 px off the face's centre
// (PreprocessCli tests allow 5); 4 lost two faces on Megamind.
constexpr int kWholeImageEvery = 2;
// Keyframes further apart than this (in face widths) are not interpolated: see emit_jumped().
constexpr float kJump = 0.3f;

// Two keyframes' boxes belong to one smooth track: close (kJump face widths) and of about one size.
bool agrees(const cv::Rect2f& a, const cv::Rect2f& b) {
  return distance(a, b) <= kJump * b.width && std::abs(std::log(a.width / b.width)) <= std::log(1.2f);
}

}  // namespace

FaceTracker::FaceTracker(FaceDetector& detector, const TrackerOptions& opt) : detector_(detector), opt_(opt) {}

std::optional<FaceTracker::Found> FaceTracker::locate(const cv::Mat& bgr, const std::optional<cv::Rect2f>& prior,
                                                      Search search) {
  float s = std::min(1.f, opt_.detect_width / float(bgr.cols));
  cv::Rect region(0, 0, bgr.cols, bgr.rows);
  float min_size = 24, max_size = 0;
  double step = kEverySizeStep;
  if (prior && prior->area() > 0 && search != Search::everything) {
    float size = std::max(prior->width, prior->height);
    // A face of known size is searched at about kTrackFace pixels: the cascade's cost grows
    // with the pixels it scans, its precision (a pixel or two) is then a few percent of the face.
    s = std::min(s, kTrackFace / size);
    step = kTrackScaleStep;
    if (search == Search::like_prior) {
      // The tracked face or another of 0.7 to 2 times its size, anywhere: a cut, a zoom or a
      // drift onto something else shows, at a fifth of the cost of every size (Megamind, one
      // thread: 7 instead of 33 ms). Smaller faces are the costliest to search (the most pixels per
      // size) and rare after a cut; they are found by the search over every size.
      min_size = std::max(min_size, kKeyframeSizes.first * size * s);
      max_size = kKeyframeSizes.second * size * s;
    } else {
      cv::Rect2f grown(prior->x - 0.6f * size, prior->y - 0.6f * size, prior->width + 1.2f * size,
                       prior->height + 1.2f * size);
      region = cv::Rect(grown) & region;
      min_size = 0.8f * size * s;
      max_size = 1.25f * size * s;
    }
  }
  if (region.width * s < min_size || region.height * s < min_size) return std::nullopt;
  cv::Mat source = bgr(region), small;
  if (!detector_.needs_colour()) {  // a third of the values to shrink
    cv::cvtColor(source, grey_, cv::COLOR_BGR2GRAY);
    source = grey_;
  }
  if (s < 1)
    shrink_area(source, small, s);  // INTER_AREA, no aliasing: the cascade misses faces in it
  else
    small = source;
  ++calls_;
  std::vector<Detection> dets = detector_.detect(small, min_size, max_size, step);
  if (dets.empty()) return std::nullopt;
  auto to_source = [&](const cv::Rect2f& r) {
    return cv::Rect2f(r.x / s + region.x, r.y / s + region.y, r.width / s, r.height / s);
  };
  // Near a prior the face most like it (place and size) is the subject; without one, the largest.
  auto unlike = [&](const cv::Rect2f& r) {
    return distance(r, *prior) / prior->width + 2 * std::abs(std::log(r.width / prior->width));
  };
  const bool near = prior && prior->area() > 0;  // whole image or not, the face most like the prior
  std::size_t best = 0;
  for (std::size_t i = 1; i < dets.size(); ++i) {
    bool better = near ? unlike(to_source(dets[i].box)) < unlike(to_source(dets[best].box))
                        : dets[i].box.area() > dets[best].box.area();
    if (better) best = i;
  }
  Found f{to_source(dets[best].box), std::nullopt, dets[best].score};
  if (dets[best].eyes && opt_.align_eyes) {  // align_eyes = false means upright crops, whoever finds the eyes
    auto [l, r] = *dets[best].eyes;
    f.roll = std::atan2(r.y - l.y, r.x - l.x) * 180.f / float(CV_PI);
  }
  return f;
}

TrackedFrame FaceTracker::held(Frame&& f) const { return TrackedFrame{std::move(f), last_box_, last_roll_, false, 0}; }

std::vector<TrackedFrame> FaceTracker::push(Frame frame) {
  pending_.push_back(std::move(frame));
  if (static_cast<int>(pending_.size()) < opt_.detect_every) return {};
  return last_ ? resolve_keyframe() : resolve_lost();
}

std::vector<TrackedFrame> FaceTracker::finish() {
  if (pending_.empty()) return {};
  return last_ ? resolve_keyframe() : resolve_lost();
}

std::vector<TrackedFrame> FaceTracker::resolve_keyframe() {
  std::vector<TrackedFrame> out;
  // Every other keyframe is searched over the whole image, so that a track that drifted onto
  // something else, a cut or a zoom is noticed within two keyframes; the others near the track,
  // and over the whole image as well when the face there is not the tracked one. The whole image
  // at the track's scale first (cheap), at every scale only when that and a search near the track
  // find nothing (the cascade misses some faces at the coarse scale that it finds at a finer one:
  // Megamind frames 70-78).
  const cv::Mat& key = pending_.back().bgr;
  const bool near_first = ++keyframes_ % kWholeImageEvery != 0;
  std::optional<Found> near, f;
  if (near_first) {
    near = locate(key, last_->box, Search::near);
    if (near && agrees(near->box, last_->box)) f = near;
  }
  if (!f) f = locate(key, last_->box, Search::like_prior);
  if (!f) f = near_first ? near : locate(key, last_->box, Search::near);
  if (!f) f = locate(key, last_->box, Search::everything);
  if (f) {
    if (!f->roll) f->roll = last_->roll;  // no eyes from the detector: keep the last angle
    if (!agrees(f->box, last_->box))
      emit_jumped(*f, out);
    else
      emit_interpolated(*last_, *f, out);
    last_ = f;
  } else {
    emit_searched(out);
  }
  return out;
}

// No face is being tracked: the keyframe is searched over the whole image; when the face is
// back, the frames before it are searched near it, walking back until one has no face.
std::vector<TrackedFrame> FaceTracker::resolve_lost() {
  std::vector<TrackedFrame> out;
  auto f = locate(pending_.back().bgr, std::nullopt);
  std::vector<std::optional<Found>> at(pending_.size());
  if (f) {
    if (!f->roll) f->roll = last_roll_;
    at.back() = f;
    for (std::size_t i = pending_.size() - 1; i-- > 0;) {
      at[i] = locate(pending_[i].bgr, at[i + 1]->box);
      if (!at[i]) break;
      if (!at[i]->roll) at[i]->roll = f->roll;
    }
  }
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (!at[i]) {
      out.push_back(held(std::move(pending_[i])));
      continue;
    }
    last_box_ = at[i]->box;
    last_roll_ = *at[i]->roll;
    out.push_back({std::move(pending_[i]), last_box_, last_roll_, true, at[i]->score});
  }
  pending_.clear();
  last_ = f;
  return out;
}

void FaceTracker::emit_interpolated(const Found& a, const Found& b, std::vector<TrackedFrame>& out) {
  const float n = static_cast<float>(pending_.size());
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    float t = (i + 1) / n;
    float roll = *a.roll + (*b.roll - *a.roll) * t;
    out.push_back({std::move(pending_[i]), lerp(a.box, b.box, t), roll, true, a.score + (b.score - a.score) * t});
  }
  pending_.clear();
  last_box_ = b.box;
  last_roll_ = *b.roll;
}

// The face moved too far between keyframes for a straight line to follow it: each frame in
// between is searched near the old and the new place on its own.
void FaceTracker::emit_jumped(const Found& b, std::vector<TrackedFrame>& out) {
  for (std::size_t i = 0; i + 1 < pending_.size(); ++i) {
    auto g = locate(pending_[i].bgr, last_box_);
    if (!g && distance(last_box_, b.box) > 0) g = locate(pending_[i].bgr, b.box);
    if (!g) {
      out.push_back(held(std::move(pending_[i])));
      continue;
    }
    last_box_ = g->box;
    out.push_back({std::move(pending_[i]), g->box, g->roll.value_or(last_roll_), true, g->score});
  }
  out.push_back({std::move(pending_.back()), b.box, *b.roll, true, b.score});
  pending_.clear();
  last_box_ = b.box;
  last_roll_ = *b.roll;
}

void FaceTracker::emit_searched(std::vector<TrackedFrame>& out) {
  std::optional<Found> found;
  for (auto& frame : pending_) {
    found = locate(frame.bgr, last_box_);  // near the face; the whole image is searched once lost
    if (!found) {
      out.push_back(held(std::move(frame)));
      continue;
    }
    if (!found->roll) found->roll = last_roll_;
    last_box_ = found->box;
    last_roll_ = *found->roll;
    out.push_back({std::move(frame), found->box, *found->roll, true, found->score});
  }
  pending_.clear();
  last_ = found;  // tracking resumes only if the newest frame had a face
}

}  // namespace psmflow::video
