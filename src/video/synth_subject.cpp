// Who each synthetic subject is: identity (what the face looks like) and habits (which AU
// programs it runs, how strongly, and its own unlabelled movement). Both come from (seed, index)
// through separate random streams, so no AU setting can change what a person looks like.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "psmflow/video/synth.hpp"
#include "synth_rng.hpp"

namespace psmflow::synth {

namespace {

enum Stream : std::uint64_t { kIdentityStream = 1, kHabitStream = 2 };

// Program weights of each persona, in programs() order:
// smile laugh frown disgust surprise sad fear pout speech
struct Persona {
  const char* name;
  std::array<float, 9> weight;
};
const std::array<Persona, 6> kPersonas = {{
    {"smiler", {.35f, .20f, .05f, 0, .10f, 0, 0, .05f, .25f}},
    {"frowner", {.10f, 0, .35f, .20f, .05f, .05f, 0, .10f, .15f}},
    {"surprised", {.15f, .10f, 0, 0, .35f, 0, .15f, 0, .25f}},
    {"pensive", {.10f, 0, .10f, 0, .05f, .35f, 0, .25f, .15f}},
    {"talker", {.15f, .10f, .10f, .10f, .10f, 0, 0, .05f, .40f}},
    {"tense", {.10f, 0, .20f, .15f, .05f, 0, .35f, 0, .15f}},
}};

cv::Scalar mix(const cv::Scalar& a, const cv::Scalar& b, double t) { return a * (1 - t) + b * t; }

cv::Scalar pick(Rng& r, std::initializer_list<cv::Scalar> options) {
  int i = r.below(static_cast<int>(options.size()));
  return *(options.begin() + i);
}

Identity make_identity(Rng& r) {
  Identity id;
  id.face_w = r.uniform(56, 68);
  id.face_h = std::clamp(id.face_w * r.uniform(1.22, 1.42), 76.f, 92.f);
  id.jaw = r.uniform(0, 1);
  id.eye_y = -id.face_h * r.uniform(0.10, 0.16);
  id.eye_spacing = id.face_w * r.uniform(0.42, 0.50);
  id.eye_w = std::min(r.uniform(10, 13), id.eye_spacing * 0.48f);
  id.eye_h = r.uniform(5, 6.8);
  id.iris_r = id.eye_h * r.uniform(0.9, 1.05);
  id.brow_gap = r.uniform(12, 16);
  id.brow_thickness = r.uniform(3.5, 6.5);
  id.brow_arch = r.uniform(1, 5);
  id.nose_length = id.face_h * r.uniform(0.38, 0.46);
  id.nose_width = r.uniform(8, 11.5);
  id.mouth_y = id.eye_y + id.nose_length + r.uniform(13, 17);
  id.mouth_width = id.face_w * r.uniform(0.30, 0.37);
  id.lip_thickness = r.uniform(3.5, 6);
  // Skin from light to brown; features stay darker than skin so the face keeps its contrast.
  id.skin = mix(cv::Scalar(178, 200, 238), cv::Scalar(70, 100, 150), r.uniform(0, 1));
  id.hair = pick(r, {cv::Scalar(25, 25, 30), cv::Scalar(30, 45, 70), cv::Scalar(45, 75, 120), cv::Scalar(70, 120, 170),
                     cv::Scalar(40, 60, 150), cv::Scalar(150, 150, 155)});
  id.brow = mix(id.hair, cv::Scalar(20, 25, 30), 0.55);
  id.iris = pick(r, {cv::Scalar(30, 60, 95), cv::Scalar(140, 110, 60), cv::Scalar(70, 120, 80), cv::Scalar(45, 85, 110)});
  id.lips = mix(id.skin, cv::Scalar(90, 80, 170), r.uniform(0.35, 0.6)) * 0.85;
  id.clothes = pick(r, {cv::Scalar(120, 70, 40), cv::Scalar(40, 40, 40), cv::Scalar(60, 110, 60), cv::Scalar(50, 50, 140),
                        cv::Scalar(170, 160, 150), cv::Scalar(110, 60, 110)});
  id.hair_style = r.below(4);
  id.hair_volume = r.uniform(0.8, 1.3);
  return id;
}

void make_habits(Subject& s, Rng& r) {
  const Persona& p = kPersonas[s.index % kPersonas.size()];
  s.persona = p.name;
  const auto& progs = programs();
  s.program_weight.assign(progs.size(), 0.f);
  float total = 0;
  for (std::size_t i = 0; i < progs.size(); ++i) {
    s.program_weight[i] = p.weight[i] * r.uniform(0.8, 1.2);
    total += s.program_weight[i];
  }
  for (float& w : s.program_weight) w /= total;
  // Personal coupling: how strongly each AU of a program joins in for this person.
  s.au_weight.clear();
  for (const Program& prog : progs) {
    std::vector<float> w;
    for (const ProgramAu& a : prog.aus) w.push_back(std::clamp(a.weight * r.uniform(0.75, 1.2), 0.f, 1.f));
    s.au_weight.push_back(w);
  }
  s.apex_mean = r.uniform(3.2, 4.2);
  s.idiosyncrasy = static_cast<Idiosyncrasy>(s.index % kIdiosyncrasyCount);
  s.idio_left = r.chance(0.5);
  s.idio_rate_per_min = r.uniform(7, 11);
  s.background_a = pick(r, {cv::Scalar(170, 180, 185), cv::Scalar(120, 140, 150), cv::Scalar(190, 175, 160),
                             cv::Scalar(110, 120, 110), cv::Scalar(150, 160, 200)});
  s.background_b = s.background_a * r.uniform(0.6, 0.85);
  s.noise_sigma = r.uniform(2, 4);
  s.framing_dx = r.uniform(-0.05, 0.05);
  s.framing_dy = r.uniform(-0.02, 0.03);
  s.framing_scale = r.uniform(0.92, 1.05);
}

}  // namespace

int au_index(int au) {
  for (int i = 0; i < kAuCount; ++i)
    if (kAus[i] == au) return i;
  throw std::invalid_argument("AU" + std::to_string(au) + " is not one the synthetic cohort animates");
}

std::string subject_id(int index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "S%02d", index + 1);
  return buf;
}

std::string idiosyncrasy_name(Idiosyncrasy k) {
  switch (k) {
    case Idiosyncrasy::kOneSidedBrowRaise: return "one_sided_brow_raise";
    case Idiosyncrasy::kLipPucker: return "lip_pucker";
    case Idiosyncrasy::kNostrilFlare: return "nostril_flare";
    case Idiosyncrasy::kWink: return "wink";
    case Idiosyncrasy::kMouthTwist: return "mouth_twist";
    case Idiosyncrasy::kCheekPuff: return "cheek_puff";
  }
  return "unknown";
}

std::string idiosyncrasy_description(Idiosyncrasy k) {
  switch (k) {
    case Idiosyncrasy::kOneSidedBrowRaise: return "the whole brow of one side rises while the other stays still";
    case Idiosyncrasy::kLipPucker: return "the lips narrow, round and thicken (AU18-like, not labelled)";
    case Idiosyncrasy::kNostrilFlare: return "the nostrils widen and darken without the nose wrinkling (AU38-like)";
    case Idiosyncrasy::kWink: return "one eye closes for about a second while the other stays open";
    case Idiosyncrasy::kMouthTwist: return "the mouth shifts to one side, that corner rising";
    case Idiosyncrasy::kCheekPuff: return "both cheeks bulge outward below the eyes (AU34-like)";
  }
  return "";
}

const std::vector<Program>& programs() {
  static const std::vector<Program> kPrograms = {
      {"smile", {{12, 1.0f, 0}, {6, 0.8f, 0.15f}, {25, 0.3f, 0.2f}}},
      {"laugh", {{12, 1.0f, 0}, {6, 1.0f, 0.1f}, {25, 0.9f, 0.1f}, {26, 0.7f, 0.15f}}},
      {"frown", {{4, 1.0f, 0}, {17, 0.4f, 0.2f}}},
      {"disgust", {{9, 1.0f, 0}, {4, 0.5f, 0.05f}, {17, 0.5f, 0.2f}, {15, 0.3f, 0.2f}}},
      {"surprise", {{1, 1.0f, 0}, {2, 1.0f, 0}, {5, 0.8f, 0.05f}, {25, 0.6f, 0.1f}, {26, 0.6f, 0.1f}}},
      {"sad", {{1, 0.9f, 0}, {4, 0.6f, 0.1f}, {15, 1.0f, 0.1f}, {17, 0.6f, 0.2f}}},
      {"fear", {{20, 1.0f, 0}, {1, 0.6f, 0}, {4, 0.5f, 0}, {5, 0.7f, 0}, {25, 0.5f, 0.1f}}},
      {"pout", {{15, 0.8f, 0}, {17, 1.0f, 0}}},
      {"speech", {{25, 0.7f, 0}, {26, 0.5f, 0}}},
  };
  return kPrograms;
}

Subject make_subject(std::uint64_t seed, int index) {
  Subject s;
  s.id = subject_id(index);
  s.index = index;
  Rng id_rng(stream_seed({seed, static_cast<std::uint64_t>(index), kIdentityStream}));
  s.identity = make_identity(id_rng);
  Rng habit_rng(stream_seed({seed, static_cast<std::uint64_t>(index), kHabitStream}));
  make_habits(s, habit_rng);
  return s;
}

}  // namespace psmflow::synth
