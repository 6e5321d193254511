// A collective that never returns (a peer stuck, or gone without mpirun noticing) must not hang
// the job: a watchdog thread ends it with MPI_Abort and a message naming the call when an armed
// collective outlives its timeout. Open MPI 4.1 has no timeouts on collectives of its own.
// For calls that block inside a library (ncclCommInitRank); the gradient-sync engine's waits
// poll and keep their own deadline, ending the job through abort_job() as well.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace psmflow::collectives {

// Prints "psmflow: MESSAGE; aborting the job" to stderr and ends every rank (MPI_Abort, or _exit
// when that does not return within 10 s). Safe from any thread, also while another sits in MPI.
[[noreturn]] void abort_job(const std::string& message);

class Watchdog {
 public:
  explicit Watchdog(std::chrono::milliseconds timeout);  // 0 = disabled
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
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  const char* what_ = "";
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

}  // namespace psmflow::collectives
