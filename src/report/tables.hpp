// The report's content as titled tables, built once from report.json and rendered both as
// Markdown and as HTML so the two never disagree.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace psmflow::report {

struct Table {
  std::string id;     // anchor, and the figure shown beside it (may be empty)
  std::string title;
  std::string note;   // a sentence under the title
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::vector<Table> report_tables(const nlohmann::json& report);
// Header facts: version, config hash, settings (label, value).
std::vector<std::pair<std::string, std::string>> report_facts(const nlohmann::json& report);

}  // namespace psmflow::report
