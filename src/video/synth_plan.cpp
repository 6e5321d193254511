// What happens in each frame of a subject's video: AU episodes drawn from the subject's habits
// (onset, apex, offset), blinks, the subject's own unlabelled movement, head motion, light
// drift, and a few frames where the face leaves the picture or is covered.
#include <algorithm>
#include <cmath>

#include "psmflow/video/synth.hpp"
#include "synth_rng.hpp"

namespace psmflow::synth {

namespace {

enum Stream : std::uint64_t { kAuStream = 3, kBlinkStream = 4, kIdioStream = 5, kPoseStream = 6, kEventStream = 7, kNoiseStream = 8 };
constexpr float kTwoPi = 6.2831853f;

float smoothstep(float t) {
  t = std::clamp(t, 0.f, 1.f);
  return t * t * (3 - 2 * t);
}

// Rise over `onset` frames, hold `hold`, fall over `offset`: the shape of every episode.
struct Envelope {
  float start, onset, hold, offset;
  float end() const { return start + onset + hold + offset; }
  float at(float t) const {
    float u = t - start;
    if (u <= 0 || u >= onset + hold + offset) return 0;
    if (u < onset) return smoothstep(u / onset);
    if (u < onset + hold) return 1;
    return 1 - smoothstep((u - onset - hold) / offset);
  }
};

int sample(Rng& r, const std::vector<float>& weights) {
  double x = r.uniform(), acc = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    acc += weights[i];
    if (x < acc) return static_cast<int>(i);
  }
  return static_cast<int>(weights.size()) - 1;
}

// The persona's three most frequent programs come first (in a random order) so that even a
// short video shows the subject's characteristic movements.
std::vector<int> opening_programs(const Subject& s, Rng& r) {
  std::vector<int> order(s.program_weight.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s.program_weight[a] > s.program_weight[b]; });
  order.resize(3);
  for (int i = 2; i > 0; --i) std::swap(order[i], order[r.below(i + 1)]);
  return order;
}

void add_au_episodes(const Subject& s, int frames, double fps, Rng& r, SubjectPlan& plan) {
  const auto& progs = programs();
  std::vector<int> opening = opening_programs(s, r);
  float t = r.uniform(0.2, 1.0) * fps;
  for (int k = 0; t < frames; ++k) {
    const int p = k < static_cast<int>(opening.size()) ? opening[k] : sample(r, s.program_weight);
    const float apex = std::clamp(s.apex_mean + 0.7f * r.normal(), 1.8f, 5.f);
    Envelope env{t, r.uniform(0.25, 0.7) * static_cast<float>(fps), r.uniform(0.5, 1.8) * static_cast<float>(fps),
                 r.uniform(0.35, 1.0) * static_cast<float>(fps)};
    const bool speech = progs[p].name == "speech";
    const float syllable_hz = r.uniform(3, 5);
    for (std::size_t j = 0; j < progs[p].aus.size(); ++j) {
      const int ai = au_index(progs[p].aus[j].au);
      const float peak = apex * s.au_weight[p][j], lag = progs[p].aus[j].lag_s * static_cast<float>(fps);
      for (int f = std::max(0, static_cast<int>(env.start)); f < std::min(frames, static_cast<int>(env.end() + lag) + 1); ++f) {
        float v = peak * env.at(f - lag);
        if (speech) v *= 0.55f + 0.45f * std::sin(kTwoPi * syllable_hz * f / static_cast<float>(fps));
        plan.frames[f].au[ai] = std::max(plan.frames[f].au[ai], std::min(v, 5.f));
      }
    }
    plan.episodes.push_back({static_cast<int>(env.start), std::min(frames, static_cast<int>(env.end()) + 1), progs[p].name});
    // Now and then the next movement starts before this one has faded: mixed expressions.
    t = r.chance(0.25) ? env.start + env.onset + env.hold * r.uniform(0.3, 1.0) : env.end() + r.uniform(0.3, 2.0) * fps;
  }
}

void add_blinks(int frames, double fps, Rng& r, SubjectPlan& plan) {
  for (float t = r.uniform(0.5, 3.0) * fps; t < frames; t += r.uniform(2.0, 6.0) * fps) {
    const float close = std::max(1.f, r.uniform(0.05, 0.08) * static_cast<float>(fps));
    const float open = std::max(1.f, r.uniform(0.1, 0.18) * static_cast<float>(fps));
    Envelope env{t, close, 0.5f, open};
    for (int f = static_cast<int>(t); f < std::min(frames, static_cast<int>(env.end()) + 1); ++f)
      plan.frames[f].blink = std::max(plan.frames[f].blink, env.at(static_cast<float>(f) + 0.5f));
    plan.episodes.push_back({static_cast<int>(t), std::min(frames, static_cast<int>(env.end()) + 1), "blink"});
  }
}

void add_idiosyncrasy(const Subject& s, int frames, double fps, Rng& r, SubjectPlan& plan) {
  const float mean_gap = 60.f / s.idio_rate_per_min;
  for (float t = r.uniform(0.5, 2.5) * fps; t < frames;) {
    Envelope env{t, r.uniform(0.2, 0.4) * static_cast<float>(fps), r.uniform(0.5, 1.6) * static_cast<float>(fps),
                 r.uniform(0.25, 0.5) * static_cast<float>(fps)};
    const float strength = r.uniform(0.75, 1.0);
    for (int f = static_cast<int>(t); f < std::min(frames, static_cast<int>(env.end()) + 1); ++f)
      plan.frames[f].idio = std::max(plan.frames[f].idio, strength * env.at(static_cast<float>(f)));
    plan.episodes.push_back({static_cast<int>(t), std::min(frames, static_cast<int>(env.end()) + 1), "idiosyncrasy"});
    t = env.end() + std::max(1.5f, mean_gap * r.uniform(0.5, 1.5)) * static_cast<float>(fps);
  }
}

// Smooth wandering: a sum of slow sines per degree of freedom, plus a little tremor.
struct Wobble {
  std::array<float, 3> amp, hz, phase;
  float at(float t_s) const {
    float v = 0;
    for (int i = 0; i < 3; ++i) v += amp[i] * std::sin(kTwoPi * hz[i] * t_s + phase[i]);
    return v;
  }
};

Wobble make_wobble(Rng& r, float total) {
  Wobble w;
  for (int i = 0; i < 3; ++i) {
    w.amp[i] = total * r.uniform(0.2, 0.45);
    w.hz[i] = r.uniform(0.03, 0.4);
    w.phase[i] = r.uniform(0, kTwoPi);
  }
  return w;
}

void add_motion_and_light(const Subject& s, double fps, Rng& r, SubjectPlan& plan) {
  const Wobble dx = make_wobble(r, 0.05f), dy = make_wobble(r, 0.035f), roll = make_wobble(r, 4.f), scale = make_wobble(r, 0.05f);
  const float gain = r.uniform(0.92, 1.04), gain_hz = r.uniform(1 / 40.0, 1 / 15.0), gain_phase = r.uniform(0, kTwoPi);
  const float slope_hz = r.uniform(1 / 60.0, 1 / 20.0), slope_phase = r.uniform(0, kTwoPi);
  for (std::size_t f = 0; f < plan.frames.size(); ++f) {
    const float t = static_cast<float>(f / fps);
    FrameState& st = plan.frames[f];
    st.pose.dx = s.framing_dx + dx.at(t) + 0.0015f * r.normal();
    st.pose.dy = s.framing_dy + dy.at(t) + 0.0015f * r.normal();
    st.pose.roll_deg = roll.at(t) + 0.1f * r.normal();
    st.pose.scale = 1 + scale.at(t);
    st.light_gain = gain + 0.1f * std::sin(kTwoPi * gain_hz * t + gain_phase);
    st.light_slope = 0.25f * std::sin(kTwoPi * slope_hz * t + slope_phase);
  }
}

// Frames [start, start + length) that overlap no earlier event (exits and occlusions stay apart).
int free_start(const SubjectPlan& plan, int length, Rng& r) {
  const int frames = static_cast<int>(plan.frames.size());
  for (int attempt = 0; attempt < 50; ++attempt) {
    int start = r.below(frames - length);
    bool clash = false;
    for (const Episode& e : plan.episodes)
      if ((e.what == "exit" || e.what == "occlusion") && start < e.end + 5 && e.start < start + length + 5) clash = true;
    if (!clash) return start;
  }
  return -1;
}

// The head slides out of one side and comes back.
void add_exit(int start, Rng& r, SubjectPlan& plan) {
  const float side = r.chance(0.5) ? -1.f : 1.f;
  const int slide = 3, out = 4 + r.below(2), length = 2 * slide + out;
  for (int i = 0; i < length; ++i) {
    float k = i < slide ? (i + 1.f) / (slide + 1) : i < slide + out ? 1.f : (length - i) / (slide + 1.f);
    plan.frames[start + i].pose.dx += side * 0.8f * k;
  }
  plan.episodes.push_back({start, start + length, "exit"});
}

// Something (a hand, a cup) covers the upper or lower half or one side of the face.
void add_occlusion(const Subject& s, int start, Rng& r, SubjectPlan& plan) {
  const Identity& id = s.identity;
  const int length = 5 + r.below(3), kind = r.below(3);
  const float x0 = kFaceCentre.x - id.face_w - 8, w = 2 * id.face_w + 16;
  cv::Rect2f box;
  if (kind == 0)
    box = {x0, kFaceCentre.y + id.eye_y - id.brow_gap - 14, w, id.brow_gap + 2 * id.eye_h + 24};
  else if (kind == 1)
    box = {x0, kFaceCentre.y + id.eye_y + id.nose_length - 10, w, id.face_h - id.eye_y - id.nose_length + 20};
  else
    box = {r.chance(0.5) ? x0 : kFaceCentre.x - 4, kFaceCentre.y - id.face_h, id.face_w + 12, 2 * id.face_h + 10};
  for (int i = 0; i < length; ++i) {
    plan.frames[start + i].occluded = true;
    plan.frames[start + i].occluder = box;
  }
  plan.episodes.push_back({start, start + length, "occlusion"});
}

void add_events(const Subject& s, int frames, Rng& r, SubjectPlan& plan) {
  if (frames < 60) return;  // too short to spare frames for it
  const int count = std::max(1, static_cast<int>(std::lround(frames / 700.0)));
  for (int i = 0; i < count; ++i) {
    if (int start = free_start(plan, 12, r); start >= 0) add_exit(start, r, plan);
    if (int start = free_start(plan, 8, r); start >= 0) add_occlusion(s, start, r, plan);
  }
}

// Enough positives for the evaluation: at least `needed` AUs at intensity >= 2 in > 2% of frames.
bool has_positives(const SubjectPlan& plan, int needed) {
  auto labels = plan_labels(plan);
  int active = 0;
  for (const auto& au : labels) {
    auto present = std::count_if(au.begin(), au.end(), [](int v) { return v >= 2; });
    active += present > 0.02 * au.size();
  }
  return active >= needed;
}

SubjectPlan plan_once(const Subject& s, int frames, double fps, std::uint64_t seed, std::uint64_t attempt) {
  const auto idx = static_cast<std::uint64_t>(s.index);
  SubjectPlan plan;
  plan.frames.resize(frames);
  Rng au_rng(stream_seed({seed, idx, kAuStream, attempt}));
  add_au_episodes(s, frames, fps, au_rng, plan);
  Rng blink_rng(stream_seed({seed, idx, kBlinkStream}));
  add_blinks(frames, fps, blink_rng, plan);
  Rng idio_rng(stream_seed({seed, idx, kIdioStream}));
  add_idiosyncrasy(s, frames, fps, idio_rng, plan);
  Rng pose_rng(stream_seed({seed, idx, kPoseStream}));
  add_motion_and_light(s, fps, pose_rng, plan);
  Rng event_rng(stream_seed({seed, idx, kEventStream}));
  add_events(s, frames, event_rng, plan);
  for (int f = 0; f < frames; ++f) plan.frames[f].noise_seed = stream_seed({seed, idx, kNoiseStream, static_cast<std::uint64_t>(f)});
  std::sort(plan.episodes.begin(), plan.episodes.end(), [](const Episode& a, const Episode& b) { return a.start < b.start; });
  return plan;
}

}  // namespace

std::vector<std::vector<int>> plan_labels(const SubjectPlan& plan) {
  std::vector<std::vector<int>> labels(kAuCount, std::vector<int>(plan.frames.size()));
  for (std::size_t f = 0; f < plan.frames.size(); ++f)
    for (int i = 0; i < kAuCount; ++i) labels[i][f] = std::clamp(static_cast<int>(std::lround(plan.frames[f].au[i])), 0, 5);
  return labels;
}

std::vector<int> plan_idiosyncrasy(const SubjectPlan& plan) {
  std::vector<int> out(plan.frames.size());
  for (std::size_t f = 0; f < plan.frames.size(); ++f) out[f] = std::clamp(static_cast<int>(std::lround(5 * plan.frames[f].idio)), 0, 5);
  return out;
}

SubjectPlan plan_subject(const Subject& s, int frames, double fps, std::uint64_t seed) {
  // A rare draw with too few strong episodes is redrawn (deterministically) rather than kept.
  constexpr int kAttempts = 8, kNeededAus = 4;
  SubjectPlan plan;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    plan = plan_once(s, frames, fps, seed, static_cast<std::uint64_t>(attempt));
    if (has_positives(plan, kNeededAus)) break;
  }
  return plan;
}

}  // namespace psmflow::synth
