// psmflow synth: a synthetic cohort of face videos with DISFA-format AU labels (docs in README).
#include <fmt/format.h>

#include <regex>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/video/synth.hpp"

namespace psmflow::cli {

namespace {
cv::Size parse_size(const std::string& text) {
  std::smatch m;
  if (!std::regex_match(text, m, std::regex("([0-9]{2,4})x([0-9]{2,4})")))
    throw UsageError("synth: --size '" + text + "' is not WIDTHxHEIGHT, e.g. 320x240");
  return {std::stoi(m[1]), std::stoi(m[2])};
}
}  // namespace

Command add_synth(CLI::App& root) {
  CLI::App* sub = root.add_subcommand("synth", "Synthesise a cohort of face videos with AU labels in DISFA's format");
  auto opt = std::make_shared<synth::SynthOptions>();
  auto size = std::make_shared<std::string>("320x240");
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "Folder to write videos/, labels/, truth/ and cohort.json into")->required();
  sub->add_option("--subjects", opt->subjects, "Number of people")->capture_default_str();
  sub->add_option("--frames", opt->frames, "Frames per person")->capture_default_str();
  sub->add_option("--seed", opt->seed, "Everything is a function of the seed")->capture_default_str();
  sub->add_option("--fps", opt->fps, "Frame rate of the videos")->capture_default_str();
  sub->add_option("--size", *size, "Frame size WIDTHxHEIGHT")->capture_default_str();
  sub->add_option("--threads", opt->threads, "Threads (0 = one per core)")->capture_default_str();
  return {sub, [opt, size, out] {
            opt->out = *out;
            opt->size = parse_size(*size);
            synth::SynthSummary s = synth::synthesize_cohort(*opt);
            spdlog::info("synth: {} subjects x {} frames in {:.1f} s ({:.0f} frames/s, {:.1f} MB of video) -> {}",
                         s.subjects, opt->frames, s.seconds, s.frames / std::max(s.seconds, 1e-9),
                         s.video_bytes / 1e6, opt->out.string());
            return 0;
          }};
}

}  // namespace psmflow::cli
