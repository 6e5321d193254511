// The ETA of a phase of `psmflow run`, from the work done so far, where a running subject counts
// by its own progress (the training epochs it has written to losses.csv) instead of as nothing
// until it finishes: the estimate then moves while the work moves, not once per subject.
#pragma once
#include <optional>
#include <set>
#include <string>

#include "psmflow/store/run_dir.hpp"

namespace psmflow {

// Remaining seconds when `units_done` subjects' worth of work took `elapsed_s` and
// `units_left` remain (fractions included); nullopt until some work shows.
std::optional<double> eta_seconds(double elapsed_s, double units_done, double units_left);
std::string eta_text(double seconds);  // "3:07", "1:02:03"

// A running subject's progress, 0..1: epochs in RUN_DIR/subjects/ID/psm/losses.csv over `epochs`.
double training_fraction(const RunDir& run, const std::string& id, int epochs);

class PhaseEta {
 public:
  // train_epochs = 0: the phase trains nothing and running subjects count as 0 until they finish.
  PhaseEta(RunDir run, int train_epochs) : run_(std::move(run)), epochs_(train_epochs) {}
  void started(const std::string& id) { running_.insert(id); }
  void finished(const std::string& id);
  // remaining = subjects not finished in this phase (running and queued).
  std::optional<double> seconds_left(double elapsed_s, int remaining) const;

 private:
  RunDir run_;
  int epochs_;
  int finished_ = 0;  // in this run; skipped subjects took no time and do not count
  std::set<std::string> running_;
};

}  // namespace psmflow
