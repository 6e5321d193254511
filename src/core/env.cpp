#include "psmflow/core/env.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "psmflow/core/error.hpp"

namespace psmflow {
namespace {

// Set and not empty.
std::optional<std::string> env_value(const char* name) {
  auto v = env_string(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

[[noreturn]] void bad(const char* name, const std::string& value, const char* expected) {
  throw UsageError(std::string("environment variable ") + name + "=\"" + value + "\" is not " + expected);
}

}  // namespace

std::optional<std::string> env_string(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

std::optional<long> env_int(const char* name) {
  auto v = env_value(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v->c_str(), &end, 10);
  if (end == v->c_str() || *end != '\0' || errno == ERANGE || std::isspace(static_cast<unsigned char>((*v)[0])))
    bad(name, *v, "a whole number");
  return n;
}

std::optional<double> env_double(const char* name) {
  auto v = env_value(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(x) ||
      std::isspace(static_cast<unsigned char>((*v)[0])))
    bad(name, *v, "a finite number");
  return x;
}

std::optional<bool> env_bool(const char* name) {
  auto v = env_value(name);
  if (!v) return std::nullopt;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  bad(name, *v, "a switch (1/0, true/false, yes/no, on/off)");
}

}  // namespace psmflow
