#include "psmflow/core/ids.hpp"

#include <cctype>
#include <cstdio>

namespace psmflow {
namespace {

// The UTF-8 sequence starting at id[i] and its code point ("'é' (U+00E9)"), or the raw byte when
// it is not valid UTF-8 ("byte 0xE9"), or the byte of a control character ("control byte 0x07").
std::string describe_char(std::string_view id, std::size_t i) {
  const auto u = static_cast<unsigned char>(id[i]);
  char buf[32];
  if (u < 0x80) {
    if (std::isprint(u)) return std::string("'") + id[i] + "'";
    std::snprintf(buf, sizeof buf, "control byte 0x%02X", u);
    return buf;
  }
  const std::size_t len = u >= 0xF0 && u < 0xF8 ? 4 : u >= 0xE0 ? 3 : u >= 0xC2 && u < 0xE0 ? 2 : 0;
  unsigned long cp = len == 4 ? u & 0x07 : len == 3 ? u & 0x0F : u & 0x1F;
  bool valid = len > 0 && i + len <= id.size();
  for (std::size_t k = 1; valid && k < len; ++k) {
    const auto c = static_cast<unsigned char>(id[i + k]);
    valid = (c & 0xC0) == 0x80;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (!valid) {
    std::snprintf(buf, sizeof buf, "byte 0x%02X (not UTF-8)", u);
    return buf;
  }
  std::snprintf(buf, sizeof buf, " (U+%04lX)", cp);
  return "'" + std::string(id.substr(i, len)) + "'" + buf;
}

}  // namespace

std::string unsafe_id_reason(std::string_view id) {
  if (id.empty()) return "it is empty";
  if (id.size() > 64) return "it is longer than 64 characters";
  if (id == "." || id == "..") return "it is a relative path component";
  if (static_cast<unsigned char>(id[0]) >= 0x80 || !std::isalnum(static_cast<unsigned char>(id[0])))
    return "it must start with an ASCII letter or digit, not " + describe_char(id, 0);
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const auto u = static_cast<unsigned char>(c);
    if (!(u < 0x80 && (std::isalnum(u) || c == '.' || c == '_' || c == '-')))
      return "it contains " + describe_char(id, i) + " (allowed: ASCII letters, digits, '.', '_', '-')";
  }
  return {};
}

}  // namespace psmflow
