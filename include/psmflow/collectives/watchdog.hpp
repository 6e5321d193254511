// A collective that never returns (a peer stuck, or gone without mpirun noticing) must not hang
// the job: a watchdog thread calls its on_timeout (abort_job() in mpi.hpp under MPI) with a
// message naming the call when an armed collective outlives its timeout. Open MPI 4.1 has no
// timeouts on collectives of its own. For calls that block inside a library (ncclCommInitRank);
// the gradient-sync engine's waits poll and keep their own deadline. Needs no MPI, so that the
// NCCL transport also runs alone on a machine without it (tools/bench/gpu_check).
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace psmflow::collectives {

// Ends the process: given "MESSAGE", it must not return.
using OnTimeout = void (*)(const std::string& message);

// Prints "psmflow: MESSAGE; exiting" to stderr and _exit(1)s: the end of a process that is the
// only rank (no MPI job to abort). Safe from any thread.
[[noreturn]] void exit_alone(const std::string& message);

class Watchdog {
 public:
  // timeout 0 = disabled. `who` starts the message ("rank 3").
  Watchdog(std::chrono::milliseconds timeout, std::string who, OnTimeout on_timeout);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  void arm(const char* what);  // e.g. "MPI_Iallreduce of gradient bucket 3"
  void disarm();

  // Held for the duration of one collective.
  class Scope {
   public:
    Scope(Watchdog& w, const char* what) : w_(w) { w_.arm(what); }
    ~Scope() { w_.disarm(); }

   private:
    Watchdog& w_;
  };

 private:
  void watch();
  std::chrono::milliseconds timeout_;
  std::string who_;
  OnTimeout on_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  const char* what_ = "";
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

}  // namespace psmflow::collectives
