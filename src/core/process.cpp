#include "psmflow/core/process.hpp"

#include <signal.h>

#include <cerrno>

namespace psmflow {

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

}  // namespace psmflow
