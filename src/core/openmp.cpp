#include "psmflow/core/openmp.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace psmflow {

namespace {
// Set in the re-executed process, so that its --version can tell psmflow's default from a user's.
constexpr const char* kSetByPsmflow = "PSMFLOW_OMP_SPIN_SET";
}  // namespace

void limit_openmp_spinning(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  ::setenv("GOMP_SPINCOUNT", std::to_string(kOpenMpSpinCount).c_str(), 1);
  ::setenv(kSetByPsmflow, "1", 1);
  // The file's own path first: a process is named after what it executes, and "exe" would hide
  // psmflow from top, ps and `pkill psmflow`. /proc/self/exe still works if the file was replaced.
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) ::execv(self.c_str(), argv);
  ::execv("/proc/self/exe", argv);
  ::unsetenv("GOMP_SPINCOUNT");  // exec failed: this process's libgomp spins anyway, and so would its children
  ::unsetenv(kSetByPsmflow);
}

std::string openmp_wait_policy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  const bool psmflows = policy == nullptr && (spin == nullptr || std::getenv(kSetByPsmflow) != nullptr);
  if (psmflows)  // a quick command (--version) runs without it; every command that computes sets it
    return "GOMP_SPINCOUNT=" + std::to_string(kOpenMpSpinCount) + " (psmflow's default: spin briefly, then sleep)";
  std::string out = policy != nullptr ? std::string("OMP_WAIT_POLICY=") + policy : "";
  if (spin != nullptr) out += std::string(out.empty() ? "" : ", ") + "GOMP_SPINCOUNT=" + spin;
  return out;
}

}  // namespace psmflow
