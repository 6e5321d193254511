// The report's "Discovery (synthetic ground truth)" section: per subject, how well each
// embedding detects the subject's idiosyncratic movement and whether the PSM's and the GM's
// novel clusters hold it; one plain sentence on whether PSMs found what GMs missed.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tables.hpp"

namespace psmflow::report {

// A cluster set "holds" the idiosyncrasy when its novel frames overlap it beyond chance.
inline constexpr double kDiscoveryAlpha = 0.05;

// report.json's "discovery" from the subjects' eval.json files (id -> eval); null when no
// subject had ground truth.
nlohmann::json discovery_summary(const std::vector<std::pair<std::string, nlohmann::json>>& evals);

// The section's table (empty rows when report.json has no discovery).
Table discovery_table(const nlohmann::json& report);

// One SVG per subject, discovery_<id>.svg: detection F1 per embedding and novel-cluster
// precision / recall for PSM and GM. Adds name -> file to `out`.
void draw_discovery(const nlohmann::json& report, const std::filesystem::path& dir,
                    std::map<std::string, std::filesystem::path>& out);

}  // namespace psmflow::report
