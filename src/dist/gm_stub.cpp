// Placeholder until the dist part implements GM training (include/psmflow/dist/gm.hpp).
#include "psmflow/dist/gm.hpp"

#include "psmflow/error.hpp"

namespace psmflow::dist {

int run_gm_training(const Config&, const RunDir&, Manifest&) {
  throw UsageError("psmflow train --mode gm|gm-ctl: not built yet (dist part)");
}

}  // namespace psmflow::dist
