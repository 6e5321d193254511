// RUN_DIR/provenance.json: what produced a run (psmflow version and commit, the config's hash,
// the host, the libraries of describe_build()), written beside config.toml when the run is
// created and again whenever the frozen config changes. The report shows it.
#pragma once
#include "psmflow/config/config.hpp"
#include "psmflow/core/build_info.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow {

// Writes RUN_DIR/provenance.json atomically unless it already records cfg's hash.
void record_provenance(const RunDir& run, const Config& cfg);

}  // namespace psmflow
