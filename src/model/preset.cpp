#include "psmflow/model/preset.hpp"

#include "psmflow/core/error.hpp"

namespace psmflow::model {

int Preset::feature_dim() const { return ch(128) * 4 * 4; }

Preset preset_by_name(const std::string& name) {
  Preset p;
  p.name = name;
  if (name == "paper") return p;
  if (name == "small") {
    p.width_div = 2;
    p.generator_blocks = 4;
    return p;
  }
  if (name == "tiny") {
    p.width_div = 4;
    p.generator_blocks = 2;
    return p;
  }
  throw UsageError("unknown model preset '" + name + "' (expected paper, small or tiny)");
}

}  // namespace psmflow::model
