// Whether a process of this host still runs: for records and locks whose writer may have died.
#pragma once

namespace psmflow {

bool process_alive(long pid);  // kill(pid, 0) succeeds, or fails only for lack of permission

}  // namespace psmflow
