#include "psmflow/collectives/watchdog.hpp"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace psmflow::collectives {

void exit_alone(const std::string& message) {
  // stderr directly: the logger may be locked by the stuck thread.
  std::fprintf(stderr, "psmflow: %s; exiting\n", message.c_str());
  std::fflush(stderr);
  ::_exit(1);
}

Watchdog::Watchdog(std::chrono::milliseconds timeout, std::string who, OnTimeout on_timeout)
    : timeout_(timeout), who_(std::move(who)), on_timeout_(on_timeout) {
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
    char text[512];
    std::snprintf(text, sizeof text, "%s: %s did not finish within %.0f s (a peer is gone or stuck)", who_.c_str(),
                  what_, timeout_.count() / 1000.0);
    on_timeout_(text);
    ::_exit(1);  // on_timeout must not return
  }
}

}  // namespace psmflow::collectives
