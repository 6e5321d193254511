#include "psmflow/core/parse.hpp"

#include <stdexcept>

namespace psmflow {

std::optional<long long> parse_integer(const std::string& text) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {  // invalid_argument, out_of_range
    return std::nullopt;
  }
  if (used != text.size()) return std::nullopt;
  return v;
}

}  // namespace psmflow
