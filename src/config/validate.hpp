#pragma once
#include <map>
#include <string>

#include "psmflow/config/config.hpp"

namespace psmflow::config_detail {

using KeyLines = std::map<std::string, int>;  // "section.key" -> line it was set on

// Checks values and cross-field rules; throws UsageError naming file:line and key.
void validate(const Config& cfg, const KeyLines& lines, bool check_files, bool require_subjects = true);

}  // namespace psmflow::config_detail
