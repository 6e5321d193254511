// Whole-string number parsing for values read from files (CSV cells, label files).
#pragma once
#include <optional>
#include <string>

namespace psmflow {

// The integer the whole of text spells (optional sign, digits), or nullopt: empty, trailing
// characters, or out of range for long long.
std::optional<long long> parse_integer(const std::string& text);

}  // namespace psmflow
