#include "psmflow/orchestrate/eta.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace psmflow {

std::optional<double> eta_seconds(double elapsed_s, double units_done, double units_left) {
  if (units_done <= 0 || elapsed_s <= 0) return std::nullopt;
  return std::max(0.0, units_left) * elapsed_s / units_done;
}

std::string eta_text(double seconds) {
  auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

double training_fraction(const RunDir& run, const std::string& id, int epochs) {
  if (epochs <= 0) return 0;
  std::ifstream in(run.psm_dir(id) / "losses.csv");
  std::string line;
  int rows = -1;  // the header
  while (std::getline(in, line))
    if (!line.empty()) ++rows;
  return std::clamp(static_cast<double>(rows) / epochs, 0.0, 1.0);
}

void PhaseEta::finished(const std::string& id) {
  running_.erase(id);
  ++finished_;
}

std::optional<double> PhaseEta::seconds_left(double elapsed_s, int remaining) const {
  double partial = 0;
  for (const auto& id : running_) partial += training_fraction(run_, id, epochs_);
  return eta_seconds(elapsed_s, finished_ + partial, remaining - partial);
}

}  // namespace psmflow
