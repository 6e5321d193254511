// The report's "Provenance" table: what produced the run, from RUN_DIR/provenance.json.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>

#include "psmflow/store/run_dir.hpp"
#include "tables.hpp"

namespace psmflow::report {

// The run's provenance.json, or null when it has none or it cannot be read (older runs).
nlohmann::json read_provenance(const RunDir& run);
std::optional<Table> provenance_table(const nlohmann::json& report);

}  // namespace psmflow::report
