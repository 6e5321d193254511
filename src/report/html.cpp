#include <map>
#include <sstream>

#include "psmflow/core/fs.hpp"
#include "psmflow/report/report.hpp"
#include "render.hpp"
#include "tables.hpp"

namespace psmflow::report {

namespace {

const char* kStyle = R"(
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;line-height:1.4}
h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
.verdict{padding:10px 14px;border-radius:6px;margin:14px 0}.bad{background:#fde8e8;border:1px solid #e0a0a0}
.good{background:#e6f4ea;border:1px solid #97c9a5}.facts td:first-child{font-weight:bold}
figure{margin:12px 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555}.faces{display:flex;flex-wrap:wrap;gap:12px}
.faces figure{margin:0}.faces img{width:260px;image-rendering:pixelated}
.scroll{max-height:520px;overflow:auto}div.wide{overflow-x:auto}
)";

const std::map<std::string, std::vector<std::string>> kFiguresOf = {
    {"f1_per_au", {"f1_per_au"}}, {"psm_minus_gm", {"psm_minus_gm"}}, {"cluster_diff", {"cluster_diff", "novel_clusters"}},
    {"transfer", {"transfer"}},   {"ctl", {"ctl"}}};

std::string img(const std::string& mime, const std::string& bytes, const std::string& alt) {
  return "<img alt=\"" + html_escape(alt) + "\" src=\"data:" + mime + ";base64," + base64(bytes) + "\">";
}

void figure(std::ostringstream& out, const std::map<std::string, fs::path>& figures, const std::string& name) {
  auto it = figures.find(name);
  if (it == figures.end()) return;
  out << "<figure class=\"fig\" id=\"fig-" << name << "\">" << img("image/svg+xml", read_file(it->second), name)
      << "<figcaption>" << html_escape(it->second.filename().string()) << "</figcaption></figure>\n";
}

void table(std::ostringstream& out, const Table& t) {
  out << "<h2 id=\"" << t.id << "\">" << html_escape(t.title) << "</h2>\n";
  if (!t.note.empty()) out << "<p>" << html_escape(t.note) << "</p>\n";
  if (t.rows.empty()) return;
  out << (t.rows.size() > 30 ? "<div class=\"scroll\">" : "<div class=\"wide\">") << "<table><tr>";
  for (const auto& h : t.header) out << "<th>" << html_escape(h) << "</th>";
  out << "</tr>\n";
  for (const auto& row : t.rows) {
    out << "<tr>";
    for (const auto& c : row) out << "<td>" << html_escape(c) << "</td>";
    out << "</tr>\n";
  }
  out << "</table></div>\n";
}

}  // namespace

std::string render_html(const nlohmann::json& r, const std::map<std::string, fs::path>& figures,
                        const std::map<std::string, std::string>& faces) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>psmflow evaluation report</title>"
      << "<style>" << kStyle << "</style></head><body>\n<h1>psmflow evaluation report</h1>\n";
  bool good = r["verdict"]["beats_baselines"].get<bool>();
  out << "<div class=\"verdict " << (good ? "good" : "bad") << "\">";
  for (const auto& line : r["verdict"]["lines"]) out << "<p>" << html_escape(line.get<std::string>()) << "</p>";
  out << "</div>\n<table class=\"facts\">";
  for (const auto& [k, v] : report_facts(r)) out << "<tr><td>" << html_escape(k) << "</td><td>" << html_escape(v) << "</td></tr>";
  out << "</table>\n";
  for (const auto& t : report_tables(r)) {
    table(out, t);
    if (auto f = kFiguresOf.find(t.id); f != kFiguresOf.end())
      for (const auto& name : f->second) figure(out, figures, name);
    if (t.id == "discovery")  // one figure per subject: discovery_<id>
      for (const auto& [name, file] : figures)
        if (name.rfind("discovery_", 0) == 0) figure(out, figures, name);
  }
  if (figures.count("losses")) {
    out << "<h2 id=\"training\">Training</h2>\n";
    figure(out, figures, "losses");
  }
  if (!faces.empty()) {
    out << "<h2 id=\"faces\">Aligned faces</h2>\n<p>A sample of each subject's aligned crops";
    if (faces.size() < r["per_subject"].size()) out << " (the first " << faces.size() << " subjects)";
    out << ".</p>\n<div class=\"faces\">";
    for (const auto& [id, png] : faces)
      out << "<figure class=\"fig\">" << img("image/png", png, id) << "<figcaption>" << html_escape(id)
          << "</figcaption></figure>";
    out << "</div>\n";
  }
  out << "<p style=\"font-size:12px;color:#777\">Written by psmflow " << html_escape(r["psmflow_version"].get<std::string>())
      << "; every number is also in report.json.</p>\n</body></html>\n";
  return out.str();
}

}  // namespace psmflow::report
