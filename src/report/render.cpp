#include "render.hpp"

#include <fmt/format.h>

namespace psmflow::report {

std::string model_label(const std::string& model) {
  if (model == "psm") return "PSM";
  if (model == "gm") return "GM";
  if (model == "untrained") return "untrained network (baseline)";
  if (model == "pixels-pca") return "raw-pixel PCA (baseline)";
  return model;
}

std::string num(const nlohmann::json& v, int digits) {
  if (v.is_null()) return "-";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  return fmt::format("{:.{}f}", v.get<double>(), digits);
}

std::string interval_text(const nlohmann::json& v) {
  if (v.is_null() || !v.contains("mean")) return "-";
  return fmt::format("{} [{}, {}]", num(v["mean"]), num(v["lo"]), num(v["hi"]));
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kChars[v >> 18], out += kChars[(v >> 12) & 63], out += kChars[(v >> 6) & 63], out += kChars[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kChars[v >> 18], out += kChars[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kChars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace psmflow::report
