#include "psmflow/train/provenance.hpp"

#include <nlohmann/json.hpp>

#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/train/plugin.hpp"

namespace psmflow {

void record_provenance(const RunDir& run, const Config& cfg) {
  const fs::path file = run.root() / kProvenanceFile;
  if (fs::exists(file)) {
    auto old = nlohmann::json::parse(read_file(file), nullptr, false);
    if (!old.is_discarded() && old.value("config_sha256", "") == cfg.hash) return;
  }
  nlohmann::json build = nlohmann::json::object();
  for (const BuildEntry& e : describe_build()) build[e.name] = e.value;  // loads the plugin: 0.2 s, once per run
  nlohmann::json j = {{"psmflow", build["psmflow"]}, {"commit", build["commit"]}, {"config_sha256", cfg.hash},
                      {"host", host_name()},         {"created", now_iso8601()},  {"build", build}};
  write_file_atomic(file, j.dump(1) + "\n");
}

}  // namespace psmflow
