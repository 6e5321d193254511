// Small helpers shared by the Markdown and HTML renderers.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace psmflow::report {

std::string model_label(const std::string& model);
// "0.812 [0.790, 0.833]" from {mean, lo, hi}; "-" for null.
std::string interval_text(const nlohmann::json& v);
std::string num(const nlohmann::json& v, int digits = 3);
std::string html_escape(const std::string& s);
std::string base64(const std::string& bytes);

}  // namespace psmflow::report
