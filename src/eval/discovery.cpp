#include "psmflow/eval/discovery.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "psmflow/core/parse.hpp"
#include "psmflow/core/error.hpp"

namespace psmflow::eval {

namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string c; std::getline(in, c, ',');) cells.push_back(c);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

int column(const std::vector<std::string>& header, const std::string& name, const std::filesystem::path& csv) {
  auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) throw StageError(fmt::format("{}: line 1: no '{}' column (is it psmflow synth's truth file?)", csv.string(), name));
  return static_cast<int>(it - header.begin());
}

long long parse_int(const std::string& cell, const std::filesystem::path& csv, int line, const char* what) {
  auto v = parse_integer(cell);
  if (!v) throw StageError(fmt::format("{}: line {}: {} '{}' is not an integer", csv.string(), line, what, cell));
  return *v;
}

}  // namespace

Truth read_truth(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  if (!in) throw StageError(csv.string() + ": cannot open the truth file ([data] truth)");
  std::string line;
  if (!std::getline(in, line)) throw StageError(csv.string() + ": empty truth file");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto header = split_csv(line);
  const int c_frame = column(header, "frame", csv), c_kind = column(header, "idiosyncrasy", csv),
            c_value = column(header, "idio_intensity", csv);
  Truth t;
  for (int n = 2; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto cells = split_csv(line);
    if (cells.size() != header.size())
      throw StageError(fmt::format("{}: line {}: {} cells where the header has {}", csv.string(), n, cells.size(), header.size()));
    const long long frame = parse_int(cells[c_frame], csv, n, "frame"), value = parse_int(cells[c_value], csv, n, "idio_intensity");
    if (frame < 0) throw StageError(fmt::format("{}: line {}: frame {} is negative", csv.string(), n, frame));
    if (value < 0 || value > 5) throw StageError(fmt::format("{}: line {}: idio_intensity {} is not within 0..5", csv.string(), n, value));
    if (t.kind.empty()) t.kind = cells[c_kind];
    if (cells[c_kind] != t.kind)
      throw StageError(fmt::format("{}: line {}: idiosyncrasy '{}' differs from '{}' above (one kind per person)", csv.string(), n, cells[c_kind], t.kind));
    if (!t.intensity.emplace(frame, static_cast<int>(value)).second)
      throw StageError(fmt::format("{}: line {}: frame {} appears twice", csv.string(), n, frame));
  }
  if (t.intensity.empty()) throw StageError(csv.string() + ": no frames in the truth file");
  return t;
}

std::vector<int> frames_in_novel(const std::vector<int>& labels, const std::vector<ClusterProfile>& profiles,
                                 const std::vector<bool>& novel) {
  std::map<int, bool> novel_label;
  for (std::size_t i = 0; i < profiles.size() && i < novel.size(); ++i) novel_label[profiles[i].label] = novel[i];
  std::vector<int> out(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto it = novel_label.find(labels[i]);
    out[i] = it != novel_label.end() && it->second;
  }
  return out;
}

Enrichment novel_enrichment(const std::vector<int>& in_novel, const std::vector<int>& present) {
  if (in_novel.size() != present.size()) throw std::invalid_argument("novel_enrichment: lengths differ");
  const int n = static_cast<int>(present.size());
  Enrichment e;
  e.frames = n;
  auto overlap = [&](int shift) {
    int both = 0;
    for (int i = 0; i < n; ++i) both += in_novel[i] && present[(i + shift) % n] == 1;
    return both;
  };
  for (int i = 0; i < n; ++i) e.novel_frames += in_novel[i] != 0, e.idio_frames += present[i] == 1;
  e.both = n ? overlap(0) : 0;
  e.precision = e.novel_frames ? static_cast<double>(e.both) / e.novel_frames : 0.0;
  e.recall = e.idio_frames ? static_cast<double>(e.both) / e.idio_frames : 0.0;
  int reached = 1;  // the observed arrangement counts as one of the permutations
  for (int k = 1; k < n; ++k) reached += overlap(k) >= e.both;
  e.permutations = std::max(0, n - 1);
  e.p_value = n ? static_cast<double>(reached) / n : 1.0;
  return e;
}

}  // namespace psmflow::eval
