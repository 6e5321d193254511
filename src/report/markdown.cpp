#include <sstream>

#include "psmflow/report/report.hpp"
#include "render.hpp"
#include "tables.hpp"

namespace psmflow::report {

namespace {
std::string cell(std::string s) {
  for (std::size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}
}  // namespace

std::string render_markdown(const nlohmann::json& r) {
  std::ostringstream out;
  out << "# psmflow evaluation report\n\n";
  for (const auto& line : r["verdict"]["lines"]) out << "> " << line.get<std::string>() << "\n>\n";
  out << "\n";
  for (const auto& [k, v] : report_facts(r)) out << "- **" << k << "**: " << cell(v) << "\n";
  out << "\n";
  for (const auto& t : report_tables(r)) {
    out << "## " << t.title << "\n\n";
    if (!t.note.empty()) out << t.note << "\n\n";
    if (t.rows.empty()) continue;
    for (const auto& h : t.header) out << "| " << cell(h) << " ";
    out << "|\n";
    for (std::size_t i = 0; i < t.header.size(); ++i) out << "|---";
    out << "|\n";
    for (const auto& row : t.rows) {
      for (const auto& c : row) out << "| " << cell(c) << " ";
      out << "|\n";
    }
    out << "\n";
  }
  out << "Figures: see figures/ beside this file, or report.html.\n";
  return out.str();
}

}  // namespace psmflow::report
