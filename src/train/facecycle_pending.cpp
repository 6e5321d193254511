// Compiled only while the model part has no sources (see CMakeLists.txt): lets the binary link,
// and says clearly that the network is not built yet. Removed when the model part lands.
#include "psmflow/error.hpp"
#include "psmflow/model/facecycle.hpp"

namespace psmflow::model {
namespace {
[[noreturn]] void pending() { throw UsageError("the FaceCycle network is not built yet (model part)"); }
}  // namespace

int Preset::feature_dim() const { pending(); }
Preset preset_by_name(const std::string&) { pending(); }
FaceCycleImpl::FaceCycleImpl(const Preset&) { pending(); }
LossTerms FaceCycleImpl::loss(const torch::Tensor&, const torch::Tensor&, double) { pending(); }
Embedding FaceCycleImpl::embed(const torch::Tensor&) { pending(); }
std::vector<torch::Tensor> FaceCycleImpl::trainable_parameters() { pending(); }
bool FaceCycleImpl::has_perceptual() const { pending(); }
void FaceCycleImpl::load_vgg_weights(const std::filesystem::path&) { pending(); }
const Preset& FaceCycleImpl::preset() const { pending(); }
void load_pytorch_checkpoint(FaceCycle&, const std::filesystem::path&) { pending(); }

}  // namespace psmflow::model
