#include "psmflow/core/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace psmflow {

void init_console_logging(int verbosity) {
  auto logger = spdlog::stderr_color_mt("psmflow");
  logger->set_pattern("%^[%H:%M:%S %L]%$ %v");
  logger->set_level(verbosity < 0 ? spdlog::level::warn : verbosity > 0 ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void add_log_file(const std::filesystem::path& log_dir, const std::string& command) {
  std::filesystem::create_directories(log_dir);
  auto file = log_dir / (command + "-" + host_name() + "-" + std::to_string(::getpid()) + ".log");
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string());
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e %L] %v");
  sink->set_level(spdlog::level::debug);
  spdlog::default_logger()->sinks().push_back(sink);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Progress::Progress(std::string what, std::size_t total, std::chrono::milliseconds interval)
    : what_(std::move(what)), total_(total), interval_(interval), start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::add(std::size_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ >= interval_) {
    last_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  print(true);
}

void Progress::print(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? done_ / secs : 0;
  std::string line = fmt::format("{}: {}/{}", what_, done_, total_);
  if (total_ > 0) line += fmt::format(" ({:.0f}%)", 100.0 * done_ / total_);
  line += fmt::format(" {:.1f}/s", rate);
  if (final) {
    line += fmt::format(" in {:.1f} s", secs);
  } else if (rate > 0 && total_ > done_) {
    auto eta = static_cast<long>((total_ - done_) / rate);
    line += fmt::format(" ETA {}:{:02d}", eta / 60, eta % 60);
  }
  spdlog::info("{}", line);
}

}  // namespace psmflow
