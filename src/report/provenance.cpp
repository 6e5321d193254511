#include "provenance.hpp"

#include <spdlog/spdlog.h>

#include "psmflow/core/build_info.hpp"
#include "psmflow/core/fs.hpp"

namespace psmflow::report {

using nlohmann::json;

json read_provenance(const RunDir& run) {
  const fs::path file = run.root() / kProvenanceFile;
  if (!fs::exists(file)) return nullptr;
  json j = json::parse(read_file(file), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    spdlog::warn("collect: {} is not JSON; the report has no provenance table", file.string());
    return nullptr;
  }
  return j;
}

std::optional<Table> provenance_table(const json& r) {
  const json p = r.value("provenance", json());
  if (!p.is_object()) return std::nullopt;
  Table t{"provenance",
          "Provenance",
          "What created this run directory (provenance.json beside config.toml).",
          {"what", "value"},
          {}};
  for (const char* key : {"created", "host", "config_sha256"})
    if (p.contains(key)) t.rows.push_back({key, p[key].get<std::string>()});
  const json build = p.value("build", json::object());  // a named copy: items() refers into it
  for (const auto& [name, value] : build.items())
    if (value.is_string()) t.rows.push_back({name, value.get<std::string>()});
  return t;
}

}  // namespace psmflow::report
