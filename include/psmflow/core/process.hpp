// Whether a process of this host still runs: for records and locks whose writer may have died.
#pragma once

namespace psmflow {

// kill(pid, 0) succeeds, or fails only for lack of permission, and the process is no zombie.
bool process_alive(long pid);

}  // namespace psmflow
