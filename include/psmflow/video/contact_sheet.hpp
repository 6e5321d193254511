// A PNG grid of crops sampled evenly over a frames.h5, with the detection rate in a header line,
// so a person sees at a glance whether alignment worked. Frames whose face was not found get a
// red frame around their tile; the landmarks of the others are drawn on the crop (green), placed
// as preprocess cropped them (`margin`: [preprocess] margin).
#pragma once
#include <filesystem>
#include <string>

namespace psmflow::video {

std::string contact_sheet_png(const std::filesystem::path& frames_h5, const std::string& subject, int tiles,
                              double margin);

}  // namespace psmflow::video
