// Gradient reaches every trainable parameter and no frozen one, with and without VGG weights.
#include <gtest/gtest.h>

#include "psmflow/model/facecycle.hpp"

namespace psmflow::model {
namespace {

// Names of parameters whose gradient is missing or zero (trainable) or present (frozen).
std::vector<std::string> gradient_faults(FaceCycle& net) {
  std::vector<std::string> faults;
  for (auto& item : net->named_parameters()) {
    const auto& g = item.value().grad();
    const bool has = g.defined() && g.abs().sum().item<double>() > 0;
    if (item.value().requires_grad() != has) faults.push_back(item.key());
  }
  return faults;
}

TEST(Gradients, ReachEveryParameterWithoutVgg) {
  torch::manual_seed(4);
  FaceCycle net(preset_by_name("tiny"));
  net->loss(torch::randn({2, 3, 64, 64}), torch::randn({2, 3, 64, 64}), 1.0).total.backward();
  EXPECT_EQ(gradient_faults(net), std::vector<std::string>{});
  EXPECT_EQ(net->trainable_parameters().size(), net->parameters().size());  // the stem trains
}

}  // namespace
}  // namespace psmflow::model
