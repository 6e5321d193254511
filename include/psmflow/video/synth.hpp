// Synthetic cohort (`psmflow synth`): procedurally drawn faces of several people, each with its
// own identity, its own habits of facial movement and labels in DISFA's format, so every later
// stage has real test data. docs/synth.md says what it models and what it does not.
//
// Layers, each usable on its own (tests call the lower ones directly):
//   make_subject()      identity, habits and idiosyncratic movement from (seed, index)
//   plan_subject()      per-frame state: AU intensities, blinks, idiosyncrasy, pose, light, events
//   render_face()       one face on the canonical canvas (no pose, light or noise)
//   render_frame()      a full video frame: background, posed face, light, occluder, noise
//   synthesize_cohort() writes DIR/videos, DIR/labels, DIR/truth (idiosyncrasy included) and DIR/cohort.json
#pragma once
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psmflow::synth {
namespace fs = std::filesystem;

// The AUs the generator animates and labels, in this order everywhere (AuVector index).
inline constexpr std::array<int, 12> kAus = {1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26};
inline constexpr int kAuCount = static_cast<int>(kAus.size());
using AuVector = std::array<float, kAuCount>;  // continuous intensity 0..5 per AU
int au_index(int au);                          // index into kAus; throws for other AUs

// The face is drawn on a fixed canvas, then posed into the frame (render_frame).
inline constexpr int kCanvasWidth = 300;
inline constexpr int kCanvasHeight = 440;
inline const cv::Point2f kFaceCentre{150.f, 180.f};  // centre of the face oval on the canvas

// What makes a person look like themselves; drawn from (seed, subject index) only, never from AUs.
// Lengths are canvas pixels.
struct Identity {
  float face_w = 64, face_h = 84;    // half-axes of the face oval
  float jaw = 0.3f;                  // 0 round chin .. 1 square jaw
  float eye_y = -12;                 // eye line relative to the oval centre
  float eye_spacing = 29;            // half the distance between eye centres
  float eye_w = 12, eye_h = 6;       // half-width and half-height of the open eye
  float iris_r = 5;
  float brow_gap = 13;               // brow above the eye line
  float brow_thickness = 4.5f;
  float brow_arch = 3;
  float nose_length = 36;            // eye line to nose tip
  float nose_width = 10;             // half-width of the nostrils
  float mouth_y = 44;                // mouth line relative to the oval centre
  float mouth_width = 21;            // half-width
  float lip_thickness = 5;
  cv::Scalar skin{150, 170, 210}, hair{40, 50, 70}, brow{30, 35, 45}, iris{90, 70, 50}, lips{110, 110, 180};
  cv::Scalar clothes{90, 60, 40};
  int hair_style = 0;                // 0 short, 1 side parting, 2 long, 3 receding
  float hair_volume = 1;
};

// A movement of the subject's own that the shared AU set does not describe; never labelled.
enum class Idiosyncrasy { kOneSidedBrowRaise, kLipPucker, kNostrilFlare, kWink, kMouthTwist, kCheekPuff };
inline constexpr int kIdiosyncrasyCount = 6;
std::string idiosyncrasy_name(Idiosyncrasy k);
std::string idiosyncrasy_description(Idiosyncrasy k);

// A shared expression program: AUs that tend to move together, with relative apex and lag.
struct ProgramAu {
  int au;
  float weight;  // apex of this AU relative to the episode's apex
  float lag_s;   // onset delay after the episode starts
};
struct Program {
  std::string name;
  std::vector<ProgramAu> aus;
};
const std::vector<Program>& programs();  // smile, laugh, frown, ...

// A person: identity plus habits (how often each program runs and how strongly).
struct Subject {
  std::string id;  // S01, S02, ...
  int index = 0;
  Identity identity;
  std::string persona;                 // short name of the habit mix, e.g. "smiler"
  std::vector<float> program_weight;   // one per programs() entry, sums to 1
  std::vector<std::vector<float>> au_weight;  // per program, per AU of it: this person's coupling
  float apex_mean = 3.5f;              // typical apex intensity of an episode
  Idiosyncrasy idiosyncrasy = Idiosyncrasy::kWink;
  bool idio_left = true;               // side of one-sided movements
  float idio_rate_per_min = 8;
  cv::Scalar background_a, background_b;  // wall colours
  float noise_sigma = 3;               // sensor noise, 8-bit levels
  float framing_dx = 0, framing_dy = 0, framing_scale = 1;  // where the camera puts the head
};
Subject make_subject(std::uint64_t seed, int index);
std::string subject_id(int index);  // 0 -> "S01"

// Head pose relative to the frame: translation as a fraction of the frame size from its centre,
// roll in degrees, scale relative to the subject's framing.
struct Pose {
  float dx = 0, dy = 0, roll_deg = 0, scale = 1;
};

// Everything that moves in one frame.
struct FrameState {
  AuVector au{};        // continuous intensities (labels are these rounded)
  float blink = 0;      // 0 open .. 1 both eyes shut (not an AU label)
  float idio = 0;       // 0 .. 1 strength of the subject's idiosyncratic movement
  Pose pose;
  float light_gain = 1;   // overall exposure
  float light_slope = 0;  // left-to-right brightness change across the frame, fraction
  bool occluded = false;
  cv::Rect2f occluder;    // canvas coordinates of the occluding rectangle when occluded
  std::uint64_t noise_seed = 0;
};

struct Episode {
  int start = 0, end = 0;  // frames [start, end)
  std::string what;        // program name, "blink", "idiosyncrasy", "exit" or "occlusion"
};

struct SubjectPlan {
  std::vector<FrameState> frames;
  std::vector<Episode> episodes;
};
SubjectPlan plan_subject(const Subject& s, int frames, double fps, std::uint64_t seed);
// DISFA labels from a plan: labels[au index][frame] in 0..5.
std::vector<std::vector<int>> plan_labels(const SubjectPlan& plan);
// Ground truth of the idiosyncrasy per frame on the labels' 0..5 scale: round(5 * idio).
std::vector<int> plan_idiosyncrasy(const SubjectPlan& plan);

// The face on the canonical canvas (BGR, kCanvasWidth x kCanvasHeight) and its alpha mask.
struct FaceImage {
  cv::Mat bgr;                       // CV_8UC3
  cv::Mat alpha;                     // CV_8UC1, 255 = face, hair, neck or clothes
  std::vector<cv::Point2f> outline;  // the (deformed) face oval, canvas coordinates
};
FaceImage render_face(const Subject& s, const AuVector& au, float blink = 0, float idio = 0);

// Canvas rectangle where an AU's deformation lives for this identity (for tests and docs).
cv::Rect au_region(const Identity& id, int au);

// A full frame of `size`; with noise off it is a pure function of (s, state, size).
struct FrameTruth {
  cv::Rect2f face_box;  // axis-aligned box of the posed face oval, frame pixels
  bool in_frame = true;  // the face box lies inside the frame
};
cv::Mat render_frame(const Subject& s, const FrameState& st, cv::Size size, bool noise = true,
                     FrameTruth* truth = nullptr);

// The header of truth/<id>.csv, also recorded in cohort.json as "truth_columns" so that a
// cohort written before a column was added is recognised as stale.
inline constexpr const char* kTruthColumns =
    "frame,face_x,face_y,face_w,face_h,in_frame,occluded,idiosyncrasy,idio_intensity,idio_strength";

struct SynthOptions {
  fs::path out;
  int subjects = 6;
  int frames = 600;
  std::uint64_t seed = 1;
  double fps = 20;
  cv::Size size{320, 240};
  int threads = 0;  // 0 = one per core, at most one per subject
};
// Throws UsageError for bad options (0 subjects, frames < 10, fps <= 0, tiny size, unwritable out).
void validate(const SynthOptions& opt);

struct SynthSummary {
  int subjects = 0, frames = 0;
  double seconds = 0;
  std::uint64_t video_bytes = 0;
};
// Writes the cohort; every file goes to a temporary name first. Reports progress via spdlog.
SynthSummary synthesize_cohort(const SynthOptions& opt);

}  // namespace psmflow::synth
