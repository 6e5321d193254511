#include "psmflow/collectives/watchdog.hpp"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>

namespace psmflow::collectives {

void abort_job(const std::string& message) {
  // stderr directly: the logger may be locked by the stuck thread.
  std::fprintf(stderr, "psmflow: %s; aborting the job\n", message.c_str());
  std::fflush(stderr);
  // MPI_Abort from this thread while another sits inside MPI could itself block; if it has not
  // ended the job in 10 s, exiting is enough: mpirun ends a job whose rank exits nonzero.
  std::thread([] { MPI_Abort(MPI_COMM_WORLD, 1); }).detach();
  std::this_thread::sleep_for(std::chrono::seconds(10));
  ::_exit(1);
}

Watchdog::Watchdog(std::chrono::milliseconds timeout) : timeout_(timeout) {
  if (timeout_.count() > 0) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::arm(const char* what) {
  if (timeout_.count() <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = true;
  what_ = what;
  deadline_ = std::chrono::steady_clock::now() + timeout_;
  cv_.notify_all();
}

void Watchdog::disarm() {
  if (timeout_.count() <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
}

void Watchdog::watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    auto deadline = deadline_;
    if (cv_.wait_until(lock, deadline) != std::cv_status::timeout || !armed_ || deadline_ != deadline) continue;
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char text[512];
    std::snprintf(text, sizeof text, "rank %d: %s did not finish within %.0f s (a peer is gone or stuck)", rank, what_,
                  timeout_.count() / 1000.0);
    abort_job(text);
  }
}

}  // namespace psmflow::collectives
