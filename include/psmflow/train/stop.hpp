// Graceful stop on SIGTERM / SIGUSR2 (what Slurm sends before a time limit): the handler only sets
// a flag; the trainer checkpoints at the next step boundary and the command exits with
// kExitInterrupted so that schedulers can tell "stopped with a checkpoint" from a failure.
#pragma once

namespace psmflow::train {

inline constexpr int kExitInterrupted = 3;

void install_stop_handlers();  // SIGTERM, SIGUSR2
bool stop_requested();
int stop_signal();        // the signal that asked, 0 if none
void request_stop(int signal);  // for tests and for ranks told by rank 0
void clear_stop();

}  // namespace psmflow::train
