// Environment variables, read in one place. A variable that is unset is nullopt; one that is set
// but does not parse is an error naming the variable and its value (a typo must not silently turn
// a setting off: PSMFLOW_COLLECTIVE_TIMEOUT_S=abc used to read as 0, no watchdog).
#pragma once
#include <optional>
#include <string>

namespace psmflow {

// The value as set, also when empty (CUDA_VISIBLE_DEVICES="" means "no GPU").
std::optional<std::string> env_string(const char* name);
// The numbers and switches below treat an empty value as unset, and throw UsageError otherwise
// unless the whole value parses: "12", "-3" (env_int); "2.5", "1e-3" (env_double);
// 1/0, true/false, yes/no, on/off in any case (env_bool).
std::optional<long> env_int(const char* name);
std::optional<double> env_double(const char* name);
std::optional<bool> env_bool(const char* name);

}  // namespace psmflow
