// Subject ids become path components, Slurm script words and HDF5 attributes, so they are
// restricted to a safe alphabet: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, never "." or "..".
// Ids starting with '_' are reserved for run-level manifest entries (see manifest.hpp).
#pragma once
#include <string>
#include <string_view>

namespace psmflow {

// Empty when the id is safe, else the reason it is not.
std::string unsafe_id_reason(std::string_view id);
inline bool is_safe_id(std::string_view id) { return unsafe_id_reason(id).empty(); }

}  // namespace psmflow
