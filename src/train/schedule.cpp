#include "psmflow/train/schedule.hpp"

#include <algorithm>

#include "psmflow/core/error.hpp"

namespace psmflow::train {

void check_schedule(const TrainSection& t) {
  if (t.lr_epochs.empty() || t.lr_epochs.size() != t.lr_values.size())
    throw UsageError("train: lr_epochs and lr_values must be non-empty lists of the same length");
  if (!std::is_sorted(t.lr_epochs.begin(), t.lr_epochs.end()))
    throw UsageError("train: lr_epochs must be increasing");
  if (t.neutral_weight.empty() || t.neutral_weight.size() > 2)
    throw UsageError("train: neutral_weight must hold one value (constant) or two (ramp)");
  if (t.epochs < 1 || t.batch < 1) throw UsageError("train: epochs and batch must be at least 1");
}

double lr_for_epoch(const TrainSection& t, int epoch) {
  double lr = t.lr_values.front();
  for (std::size_t i = 0; i < t.lr_epochs.size(); ++i)
    if (t.lr_epochs[i] <= epoch) lr = t.lr_values[i];
  return lr;
}

double neutral_weight_for_epoch(const TrainSection& t, int epoch) {
  if (t.neutral_weight.size() < 2 || t.epochs <= 1) return t.neutral_weight.front();
  // Same arithmetic as numpy.linspace: a + step * i.
  double a = t.neutral_weight[0], b = t.neutral_weight[1];
  double step = (b - a) / (t.epochs - 1);
  int i = std::clamp(epoch - 1, 0, t.epochs - 1);
  return i == t.epochs - 1 ? b : a + step * i;
}

long long ctl_delta(int epoch) {
  if (epoch < 50) return 2LL * epoch;
  if (epoch < 100) return 4LL * epoch;
  return 5LL * epoch;
}

}  // namespace psmflow::train
