#include "psmflow/core/ids.hpp"

#include <cctype>

namespace psmflow {

std::string unsafe_id_reason(std::string_view id) {
  if (id.empty()) return "it is empty";
  if (id.size() > 64) return "it is longer than 64 characters";
  if (id == "." || id == "..") return "it is a relative path component";
  if (!std::isalnum(static_cast<unsigned char>(id[0])))
    return "it must start with a letter or digit";
  for (char c : id) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '.' || c == '_' || c == '-'))
      return std::string("it contains '") + (std::isprint(u) ? std::string(1, c) : "\\x?") +
             "' (allowed: letters, digits, '.', '_', '-')";
  }
  return {};
}

}  // namespace psmflow
