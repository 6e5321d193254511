#include "psmflow/config/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "fields.hpp"
#include "validate.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"

namespace psmflow {
using namespace config_detail;

namespace {

// Reads one TOML table into a section struct through its field table.
class Reader {
 public:
  Reader(fs::path file, KeyLines& lines) : file_(std::move(file)), base_(file_.parent_path()), lines_(lines) {}

  [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& why) const {
    throw UsageError(fmt::format("{}:{}: key '{}': {}", file_.string(), n.source().begin.line, key, why));
  }

  template <class S>
  void read(const toml::table& t, const std::string& name, const Fields<S>& fields, S& out,
            const std::set<std::string>& handled_elsewhere = {}) {
    for (auto&& [k, node] : t) {
      std::string key(k.str()), full = name + "." + key;
      lines_[full] = static_cast<int>(node.source().begin.line);
      if (handled_elsewhere.count(key)) continue;
      auto f = std::find_if(fields.begin(), fields.end(), [&](const Field<S>& x) { return key == x.key; });
      if (f == fields.end()) fail(node, full, "unknown key in [" + name + "] (known: " + known(fields) + ")");
      const toml::node& value = node;  // clang before C++20 cannot capture a structured binding
      std::visit([&](auto member) { assign(value, full, out.*member); }, f->member);
    }
  }

  fs::path resolve(const std::string& p) const {
    if (p.empty()) return {};
    fs::path path(p);
    return path.is_absolute() ? path : (base_ / path).lexically_normal();
  }

  void assign(const toml::node& n, const std::string& key, int& v) { v = static_cast<int>(integer(n, key, INT32_MIN, INT32_MAX)); }
  void assign(const toml::node& n, const std::string& key, long long& v) { v = integer(n, key, INT64_MIN, INT64_MAX); }
  void assign(const toml::node& n, const std::string& key, unsigned long long& v) {
    v = static_cast<unsigned long long>(integer(n, key, 0, INT64_MAX));
  }
  void assign(const toml::node& n, const std::string& key, double& v) {
    if (auto d = n.value<double>(); d && (n.is_floating_point() || n.is_integer())) v = *d;
    else fail(n, key, "expected a number, got " + type_name(n));
  }
  void assign(const toml::node& n, const std::string& key, bool& v) {
    if (!n.is_boolean()) fail(n, key, "expected true or false, got " + type_name(n));
    v = *n.value<bool>();
  }
  void assign(const toml::node& n, const std::string& key, std::string& v) {
    if (!n.is_string()) fail(n, key, "expected a string, got " + type_name(n));
    v = *n.value<std::string>();
  }
  void assign(const toml::node& n, const std::string& key, fs::path& v) {
    std::string s;
    assign(n, key, s);
    v = resolve(s);
  }
  template <class T>
  void assign(const toml::node& n, const std::string& key, std::vector<T>& v) {
    v.clear();
    if (!n.is_array()) {  // a single value stands for a list of one
      v.emplace_back();
      assign(n, key, v.back());
      return;
    }
    for (const auto& item : *n.as_array()) {
      v.emplace_back();
      assign(item, key, v.back());
    }
  }

 private:
  long long integer(const toml::node& n, const std::string& key, long long lo, long long hi) {
    if (!n.is_integer()) fail(n, key, "expected an integer, got " + type_name(n));
    long long x = *n.value<long long>();
    if (x < lo || x > hi) fail(n, key, fmt::format("{} is out of range", x));
    return x;
  }
  static std::string type_name(const toml::node& n) {
    std::ostringstream s;
    s << n.type();
    return s.str();
  }
  template <class S>
  static std::string known(const Fields<S>& fields) {
    std::string s;
    for (const auto& f : fields) s += (s.empty() ? "" : ", ") + std::string(f.key);
    return s;
  }

  fs::path file_, base_;
  KeyLines& lines_;
};

std::string substitute(std::string pattern, const std::string& id, const std::string& root) {
  for (auto [var, value] : {std::pair<std::string, std::string>{"{id}", id}, {"{root}", root}}) {
    for (auto pos = pattern.find(var); pos != std::string::npos; pos = pattern.find(var, pos + value.size()))
      pattern.replace(pos, var.size(), value);
  }
  return pattern;
}

const toml::table* table_at(const toml::table& doc, const std::string& key, Reader& r) {
  const toml::node* n = doc.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) r.fail(*n, key, "expected a table [" + key + "]");
  return n->as_table();
}

void read_subject_table(const toml::table& t, Reader& r, SubjectSpec& s) {
  for (auto&& [k, node] : t) {
    std::string key(k.str());
    std::string value;
    if (key == "id") r.assign(node, "data.subject.id", s.id);
    else if (key == "input") r.assign(node, "data.subject.input", value), s.input = r.resolve(value);
    else if (key == "labels") r.assign(node, "data.subject.labels", value), s.labels = r.resolve(value);
    else if (key == "truth") r.assign(node, "data.subject.truth", value), s.truth = r.resolve(value);
    else r.fail(node, "data.subject." + key, "unknown key in [[data.subject]] (known: id, input, labels, truth)");
  }
}

// [data]: section fields, explicit [[data.subject]] tables, and ids + input/labels patterns.
void read_data(const toml::table& t, Reader& r, DataSection& d, KeyLines& lines) {
  r.read(t, "data", data_fields(), d, {"subject", "ids", "input", "labels", "truth", "root"});
  if (const toml::node* subs = t.get("subject")) {
    if (!subs->is_array_of_tables()) r.fail(*subs, "data.subject", "expected [[data.subject]] tables");
    for (const auto& item : *subs->as_array()) {
      SubjectSpec s;
      s.line = static_cast<int>(item.source().begin.line);
      read_subject_table(*item.as_table(), r, s);
      if (s.id.empty()) r.fail(item, "data.subject.id", "every [[data.subject]] needs an id");
      if (s.input.empty()) r.fail(item, "data.subject.input", "subject '" + s.id + "' needs an input");
      d.subjects.push_back(s);
    }
  }
  if (const toml::node* ids = t.get("ids")) {
    std::vector<std::string> names;
    std::string root, input, labels, truth;
    if (!ids->is_array()) r.fail(*ids, "data.ids", "expected a list of subject ids, e.g. ids = [\"S01\"]");
    r.assign(*ids, "data.ids", names);
    if (auto n = t.get("root")) r.assign(*n, "data.root", root), root = r.resolve(root).string();
    if (auto n = t.get("input")) r.assign(*n, "data.input", input);
    else r.fail(*ids, "data.input", "data.ids needs data.input, a path pattern with {id}");
    if (auto n = t.get("labels")) r.assign(*n, "data.labels", labels);
    if (auto n = t.get("truth")) r.assign(*n, "data.truth", truth);
    for (const auto& id : names) {
      SubjectSpec s{id, r.resolve(substitute(input, id, root)), {}, {}, lines["data.ids"]};
      if (!labels.empty()) s.labels = r.resolve(substitute(labels, id, root));
      if (!truth.empty()) s.truth = r.resolve(substitute(truth, id, root));
      d.subjects.push_back(s);
    }
  } else {
    for (const char* k : {"input", "labels", "truth", "root"})
      if (auto n = t.get(k)) r.fail(*n, std::string("data.") + k, "only used together with data.ids");
  }
}

void read_train(const toml::table& t, Reader& r, Config& cfg) {
  for (auto&& [k, node] : t) {
    std::string key(k.str());
    if (key != "psm" && key != "gm") r.fail(node, "train." + key, "unknown table in [train] (known: psm, gm)");
    if (!node.is_table()) r.fail(node, "train." + key, "expected a table [train." + key + "]");
    r.read(*node.as_table(), "train." + key, train_fields(), key == "psm" ? cfg.psm : cfg.gm);
  }
}

Config parse(const std::string& text, const fs::path& origin, bool check_files, bool require_subjects = true) {
  Config cfg;
  cfg.file = fs::absolute(origin);
  cfg.text = text;
  cfg.hash = sha256_hex(text);
  cfg.run.run_dir = cfg.file.parent_path() / "run";
  toml::table doc;
  try {
    doc = toml::parse(text, cfg.file.string());
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}:{}: {}", cfg.file.string(), e.source().begin.line, e.description()));
  }
  KeyLines lines;
  Reader r(cfg.file, lines);
  for (auto&& [k, node] : doc) {
    static const std::set<std::string> sections = {"run", "data", "preprocess", "model", "train", "eval", "slurm"};
    if (!sections.count(std::string(k.str())))
      r.fail(node, std::string(k.str()), "unknown section (known: run, data, preprocess, model, train, eval, slurm)");
  }
  if (auto t = table_at(doc, "run", r)) r.read(*t, "run", run_fields(), cfg.run);
  if (auto t = table_at(doc, "data", r)) read_data(*t, r, cfg.data, lines);
  if (auto t = table_at(doc, "preprocess", r)) r.read(*t, "preprocess", preprocess_fields(), cfg.preprocess);
  if (auto t = table_at(doc, "model", r)) r.read(*t, "model", model_fields(), cfg.model);
  if (auto t = table_at(doc, "train", r)) read_train(*t, r, cfg);
  if (auto t = table_at(doc, "eval", r)) r.read(*t, "eval", eval_fields(), cfg.eval);
  if (auto t = table_at(doc, "slurm", r)) r.read(*t, "slurm", slurm_fields(), cfg.slurm);
  validate(cfg, lines, check_files, require_subjects);
  return cfg;
}

template <class T>
void write_value(std::ostringstream& out, const T& v) { out << v; }
void write_value(std::ostringstream& out, const fs::path& v) { out << std::quoted(v.string()); }
void write_value(std::ostringstream& out, const std::string& v) { out << std::quoted(v); }
void write_value(std::ostringstream& out, double v) { out << fmt::format("{:.17g}", v); }
template <class T>
void write_value(std::ostringstream& out, const std::vector<T>& v) {
  out << '[';
  for (const auto& x : v) write_value(out, x), out << ',';
  out << ']';
}

template <class S>
void dump(std::ostringstream& out, const std::string& name, const Fields<S>& fields, const S& s) {
  for (const auto& f : fields) {
    out << name << '.' << f.key << '=';
    std::visit([&](auto member) { write_value(out, s.*member); }, f.member);
    out << '\n';
  }
}

}  // namespace

Config parse_config(const std::string& text, const fs::path& origin, bool check_files, bool require_subjects) {
  return parse(text, origin, check_files, require_subjects);
}

Config load_config(const fs::path& file, bool check_files, bool require_subjects) {
  if (fs::is_directory(file)) throw UsageError(file.string() + ": is a directory, not a config file");
  if (!fs::is_regular_file(file)) throw UsageError(file.string() + ": config file not found");
  std::string text;
  try {
    text = read_file(file);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  return parse(text, file, check_files, require_subjects);
}

Config default_config() {
  Config cfg;
  cfg.file = fs::current_path() / "(built-in defaults)";
  cfg.hash = sha256_hex("");
  cfg.run.run_dir = fs::current_path() / "run";
  return cfg;
}

const SubjectSpec* Config::find_subject(const std::string& id) const {
  for (const auto& s : data.subjects)
    if (s.id == id) return &s;
  return nullptr;
}

std::string Config::sections_hash(const std::vector<std::string>& sections) const {
  std::ostringstream out;
  for (const auto& section : sections) {
    if (section == "preprocess") dump(out, section, preprocess_fields(), preprocess);
    else if (section == "data") dump(out, section, data_fields(), data);
    else if (section == "model") dump(out, section, model_fields(), model);
    else if (section == "train.psm") dump(out, section, train_fields(), psm);
    else if (section == "train.gm") dump(out, section, train_fields(), gm);
    else if (section == "eval") dump(out, section, eval_fields(), eval);
    else if (section == "seed") out << "seed=" << run.seed << '\n';
    else throw std::logic_error("sections_hash: '" + section + "' is not a config section");
  }
  return sha256_hex(out.str());
}

}  // namespace psmflow
