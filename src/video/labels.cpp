#include "psmflow/video/labels.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "psmflow/core/parse.hpp"
#include "psmflow/core/error.hpp"

namespace psmflow::video {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

[[noreturn]] void fail_at(const fs::path& file, int line, const std::string& why) {
  throw StageError(file.string() + ":" + std::to_string(line) + ": " + why);
}

long long parse_int(const std::string& cell, const fs::path& file, int line, const char* what) {
  auto v = parse_integer(cell);
  if (!v) fail_at(file, line, std::string("bad ") + what + " '" + cell + "'");
  return *v;
}

std::ifstream open_labels(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw StageError(file.string() + ": cannot read label file");
  return in;
}

// Stores one (frame, intensity) pair after the checks shared by both formats.
void store(std::map<std::int64_t, int>& au, const fs::path& file, int line, long long frame, long long value,
           int frame_base) {
  if (frame < frame_base)
    fail_at(file, line, "frame " + std::to_string(frame) + " is below data.label_frame_base = " + std::to_string(frame_base));
  if (value < 0 || value > 5) fail_at(file, line, "intensity " + std::to_string(value) + " outside 0..5");
  if (!au.emplace(frame - frame_base, static_cast<int>(value)).second)
    fail_at(file, line, "frame " + std::to_string(frame) + " listed twice");
}

// The number of "AU12" from its digits; -1 when they are not digits or more than any AU has
// (std::stoi would throw out_of_range on a long run of digits).
int au_number(const std::string& digits) {
  const auto first = digits.find_first_not_of('0');
  const std::string d = first == std::string::npos ? "0" : digits.substr(first);
  if (d.empty() || d.size() > 3 || d.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(d);
}

// "AU12" / "au012" in a CSV header -> 12, else -1. Not a std::regex: libstdc++'s matcher recurses
// once per character, so a hostile 1 MB header cell would overflow the stack.
int csv_au(const std::string& cell) {
  if (cell.size() < 3 || lower(cell.substr(0, 2)) != "au") return -1;
  return au_number(cell.substr(2));
}

// DISFA: "SN001_au12.txt" -> 12.
int disfa_au(const fs::path& file) {
  static const std::regex re(R"(.*au0*([0-9]+)\.txt)", std::regex::icase);
  std::smatch m;
  std::string name = file.filename().string();
  return std::regex_match(name, m, re) ? au_number(m[1]) : -1;
}

void read_disfa_file(const fs::path& file, int frame_base, std::map<std::int64_t, int>& au) {
  std::ifstream in = open_labels(file);
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (trim(text).empty()) continue;
    auto cells = split(text);
    if (cells.size() != 2) fail_at(file, line, "expected 'frame,intensity', got '" + trim(text) + "'");
    store(au, file, line, parse_int(cells[0], file, line, "frame number"), parse_int(cells[1], file, line, "intensity"),
          frame_base);
  }
}

void read_csv(const fs::path& file, int frame_base, const std::set<int>& wanted, LabelTable& t) {
  std::ifstream in = open_labels(file);
  std::string text;
  if (!std::getline(in, text)) fail_at(file, 1, "empty file; expected a header 'frame,AU1,AU2,...'");
  auto header = split(text);
  if (header.empty() || lower(header[0]) != "frame") fail_at(file, 1, "the first column must be 'frame'");
  std::vector<int> column_au;
  for (std::size_t c = 1; c < header.size(); ++c) {
    const int au = csv_au(header[c]);
    if (au < 0) fail_at(file, 1, "column '" + header[c] + "' is not AU<number>");
    if (std::count(column_au.begin(), column_au.end(), au)) fail_at(file, 1, "column AU" + std::to_string(au) + " twice");
    column_au.push_back(au);
    if (wanted.count(au)) t.origin[au] = file;
  }
  std::set<long long> seen;
  for (int line = 2; std::getline(in, text); ++line) {
    if (trim(text).empty()) continue;
    auto cells = split(text);
    if (cells.size() != header.size())
      fail_at(file, line, std::to_string(cells.size()) + " fields, the header has " + std::to_string(header.size()));
    long long frame = parse_int(cells[0], file, line, "frame number");
    if (!seen.insert(frame).second) fail_at(file, line, "frame " + std::to_string(frame) + " listed twice");
    for (std::size_t c = 1; c < cells.size(); ++c) {
      if (cells[c].empty() || !wanted.count(column_au[c - 1])) continue;
      store(t.values[column_au[c - 1]], file, line, frame, parse_int(cells[c], file, line, "intensity"), frame_base);
    }
  }
}

}  // namespace

std::vector<fs::path> label_files(const fs::path& path, const std::string& format) {
  if (path.empty()) return {};
  std::error_code ec;
  if (format == "csv") {
    if (fs::is_directory(path, ec))
      throw StageError(path.string() + ": data.label_format = \"csv\" needs a CSV file, this is a folder");
    return {path};
  }
  if (!fs::is_directory(path, ec))
    throw StageError(path.string() + ": data.label_format = \"disfa\" needs a folder of *au<k>.txt files");
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file() && disfa_au(e.path()) >= 0) out.push_back(e.path());
  if (ec) throw StageError(path.string() + ": cannot list label folder: " + ec.message());
  std::sort(out.begin(), out.end());
  if (out.empty()) throw StageError(path.string() + ": no DISFA label files (*au<k>.txt) in this folder");
  return out;
}

LabelTable read_labels(const fs::path& path, const std::string& format, int frame_base, const std::vector<int>& aus) {
  LabelTable t;
  t.files = label_files(path, format);
  std::set<int> wanted(aus.begin(), aus.end());
  if (format == "csv") {
    if (!fs::exists(path)) throw StageError(path.string() + ": no such label file");
    read_csv(path, frame_base, wanted, t);
    return t;
  }
  for (const auto& file : t.files) {
    int au = disfa_au(file);
    if (!wanted.count(au)) continue;
    auto [it, fresh] = t.origin.emplace(au, file);
    if (!fresh) throw StageError(file.string() + ": a second label file for AU" + std::to_string(au) + " (the first is " +
                                 it->second.string() + ")");
    read_disfa_file(file, frame_base, t.values[au]);
  }
  return t;
}

namespace {

// DISFA has one file per AU, usually all with the same problem: one line per problem, naming
// the first file and how many others share it.
class WarningSet {
 public:
  void add(const std::string& file, const std::string& what) {
    auto& files = by_what_[what];
    if (files.empty()) order_.push_back(what);
    files.push_back(file);
  }
  void add_plain(const std::string& text) { add("", text); }
  void emit(std::vector<std::string>& out) const {
    for (const auto& what : order_) {
      const auto& files = by_what_.at(what);
      if (files[0].empty()) {
        out.push_back(what);
        continue;
      }
      std::string who = files[0];
      if (files.size() > 1) who += " (and " + std::to_string(files.size() - 1) + " other label files)";
      out.push_back(who + ": " + what);
    }
  }

 private:
  std::map<std::string, std::vector<std::string>> by_what_;
  std::vector<std::string> order_;
};

}  // namespace

std::map<int, std::vector<std::int8_t>> align_labels(const LabelTable& t, const std::vector<int>& aus,
                                                     const std::vector<std::int64_t>& frame_index,
                                                     std::int64_t source_frames, std::vector<std::string>& out_warnings) {
  std::map<int, std::vector<std::int8_t>> out;
  WarningSet warnings;
  for (int au : aus) {
    auto& column = out[au];
    column.assign(frame_index.size(), -1);
    auto vit = t.values.find(au);
    if (vit == t.values.end() || vit->second.empty()) {
      warnings.add_plain("no labels for AU" + std::to_string(au) + " (listed in data.aus); stored as -1");
      continue;
    }
    const auto& values = vit->second;
    const std::string file = t.origin.at(au).string();
    std::int64_t first = values.begin()->first, last = values.rbegin()->first;
    if (source_frames > 0 && first >= source_frames)
      throw StageError(file + ": labels start at frame " + std::to_string(first) + " but the video has only " +
                       std::to_string(source_frames) + " frames (labels of another video?)");
    if (source_frames > 0 && last >= source_frames) {
      auto past = std::distance(values.lower_bound(source_frames), values.end());
      warnings.add(file, std::to_string(past) + " labels past the video's last frame (" +
                         std::to_string(source_frames) + " frames) are ignored");
    }
    std::int64_t missing = 0, first_missing = -1;
    for (std::size_t i = 0; i < frame_index.size(); ++i) {
      auto it = values.find(frame_index[i]);
      if (it != values.end()) {
        column[i] = static_cast<std::int8_t>(it->second);
      } else if (missing++ == 0) {
        first_missing = frame_index[i];
      }
    }
    if (missing > 0)
      warnings.add(file, "no label for " + std::to_string(missing) + " of " + std::to_string(frame_index.size()) +
                         " kept frames (first: 0-based frame " + std::to_string(first_missing) + "); stored as -1");
  }
  warnings.emit(out_warnings);
  return out;
}

}  // namespace psmflow::video
