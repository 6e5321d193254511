#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "psmflow/report/report.hpp"

namespace psmflow::report {

namespace {
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  for (std::string cell; std::getline(s, cell, ',');) {
    cell.erase(std::remove_if(cell.begin(), cell.end(), [](char c) { return c == ' ' || c == '\r'; }), cell.end());
    out.push_back(cell);
  }
  return out;
}
}  // namespace

std::optional<LossCurve> read_loss_csv(const fs::path& file, const std::string& name) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto header = split(line);
  auto col = [&](const std::string& n) { return std::find(header.begin(), header.end(), n) - header.begin(); };
  std::size_t ce = col("epoch"), ct = col("total");
  if (ce >= header.size() || ct >= header.size()) {
    spdlog::warn("{}: no 'epoch' and 'total' columns in the header; loss curve left out", file.string());
    return std::nullopt;
  }
  LossCurve c{name, {}, {}};
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto cells = split(line);
    try {
      if (cells.size() <= std::max(ce, ct)) throw std::invalid_argument("too few columns");
      double e = std::stod(cells[ce]), t = std::stod(cells[ct]);
      c.epoch.push_back(e), c.total.push_back(t);
    } catch (const std::exception&) {
      spdlog::warn("{}:{}: unreadable loss row skipped", file.string(), line_no);
    }
  }
  if (c.epoch.empty()) return std::nullopt;
  return c;
}

std::vector<LossCurve> read_losses(const RunDir& run, const std::vector<std::string>& subjects) {
  std::vector<LossCurve> out;
  const std::size_t kMaxCurves = 12;  // a figure with more lines is unreadable
  if (auto c = read_loss_csv(run.gm_dir() / "losses.csv", "gm")) out.push_back(*c);
  for (const auto& id : subjects) {
    if (out.size() >= kMaxCurves) break;
    if (auto c = read_loss_csv(run.psm_dir(id) / "losses.csv", id + " psm")) out.push_back(*c);
  }
  return out;
}

}  // namespace psmflow::report
