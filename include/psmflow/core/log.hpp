// Logging to the console and RUN_DIR/logs, and progress lines for long work.
#pragma once
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

namespace psmflow {

// Console logging; called once by main(). verbosity: 0 info, 1 debug, -1 warnings only.
void init_console_logging(int verbosity);
// Adds RUN_DIR/logs/<command>-<host>-<pid>.log to the default logger.
void add_log_file(const std::filesystem::path& log_dir, const std::string& command);

std::string host_name();
std::string now_iso8601();  // UTC, second precision

// "what: 120/600 (20%) 35.2/s ETA 0:14" at most once per interval, and once at finish().
class Progress {
 public:
  Progress(std::string what, std::size_t total, std::chrono::milliseconds interval = std::chrono::seconds(2));
  void add(std::size_t n = 1);
  void finish();
  std::size_t done() const { return done_; }

 private:
  void print(bool final);
  std::string what_;
  std::size_t total_;
  std::size_t done_ = 0;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_, last_;
  bool finished_ = false;
};

}  // namespace psmflow
