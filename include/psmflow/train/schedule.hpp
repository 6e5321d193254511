// Per-epoch schedules of METHOD.md §4 (all epochs 1-based): learning rate, neutral-face weight,
// and the CTL pair distance. Plain functions of the config so tests and the GM trainer share them.
#pragma once
#include "psmflow/config/config.hpp"

namespace psmflow::train {

// lr_values[i] of the last breakpoint lr_epochs[i] <= epoch (the first value before the first one).
double lr_for_epoch(const TrainSection& t, int epoch);
// One value: constant; two values a, b: linspace(a, b, epochs)[epoch - 1].
double neutral_weight_for_epoch(const TrainSection& t, int epoch);
// CTL distance: 2e (e < 50), 4e (e < 100), 5e otherwise. Not capped; see CtlSampler.
long long ctl_delta(int epoch);
// Throws UsageError when the schedule lists are unusable (empty, unsorted, different lengths).
void check_schedule(const TrainSection& t);

}  // namespace psmflow::train
