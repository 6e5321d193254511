#include "psmflow/model/facecycle.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "psmflow/core/error.hpp"
#include "psmflow/model/loss.hpp"
#include "psmflow/model/torch_pickle.hpp"

namespace psmflow::model {

namespace {
// Convolution weights and activations in channels-last (NHWC) memory: oneDNN then skips the
// layout conversions around every convolution, 1.5–5× faster on this network's narrow layers.
// Logical shapes and results are unchanged.
void to_channels_last(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}
torch::Tensor nhwc(const torch::Tensor& x) { return x.contiguous(torch::MemoryFormat::ChannelsLast); }
}  // namespace

FaceCycleImpl::FaceCycleImpl(const Preset& preset) : preset_(preset) {
  encoder_ = register_module("encoder", Encoder(preset));
  flow_ = register_module("flow", FlowDecoder(preset));
  generator_ = register_module("generator", Generator(preset));
  to_channels_last(*this);
}

const Preset& FaceCycleImpl::preset() const { return preset_; }
bool FaceCycleImpl::has_perceptual() const { return !vgg_.is_empty(); }

std::vector<torch::Tensor> FaceCycleImpl::trainable_parameters() {
  std::vector<torch::Tensor> out;
  for (auto& t : parameters()) {
    if (t.requires_grad()) out.push_back(t);
  }
  return out;
}

LossTerms FaceCycleImpl::loss(const torch::Tensor& x0, const torch::Tensor& x1, double neutral_weight) {
  if (!has_perceptual() && !warned_no_perceptual_) {
    spdlog::warn(
        "model: no VGG19 weights given ([model] vgg_weights): the generator stem trains and the "
        "perceptual loss term is off (perc = 0)");
    warned_no_perceptual_ = true;
  }
  auto x = nhwc(torch::cat({x0, x1}));
  auto flows = flow_(encoder_(x).code);
  // The stem of G(X, ·) runs once: G(X, flow) and G(X, none) differ only after it.
  auto stem_x = generator_->stem(x);
  auto neu = generator_->decode(stem_x, flows.flow);
  auto swapped = swap_halves(neu);
  auto dfwd = warp(x, flows.flow);
  auto dbwd = warp(swap_halves(dfwd), flows.back);
  auto sbwd = warp(swapped, flows.back);
  // With the stem equal to the VGG trunk (paper + weights), stem(neu) serves twice: swapped it is
  // the stem of G(swap, ·) (the stem works per image), and it is relu2_1/relu3_1 of neu.
  const bool shared_stem = has_perceptual() && stem_equals_vgg();
  StemFeatures stem_neu;
  torch::Tensor recon;
  if (shared_stem) {
    stem_neu = generator_->stem(neu);
    recon = generator_->decode({swap_halves(stem_neu.feat2), swap_halves(stem_neu.feat)}, flows.back);
  } else {
    recon = generator_->forward(swapped, flows.back);
  }
  auto rec = generator_->decode(stem_x, std::nullopt);

  LossTerms t;
  t.pixel = l1(recon, x) + l1(rec, x) + l1(sbwd, x) + 1.5 * l1(dbwd, x);
  t.perc = has_perceptual() ? perceptual(x, stem_x, neu, stem_neu, torch::cat({sbwd, dbwd, recon}))
                            : torch::zeros({}, x.options());
  t.ssim = (1 - ssim(x, recon)) + (1 - ssim(x, rec)) + 1.5 * (1 - ssim(x, dbwd));
  t.sym = neutral_weight * sym(neu) + 0.5 * sym(dfwd);
  t.total = total_loss(t.perc, t.pixel, t.sym, t.ssim);
  return t;
}

// Perceptual targets are the features of X once (the original computes them on four copies).
// When the frozen stem holds the VGG weights, relu2_1/relu3_1 of X are the stem's own features.
torch::Tensor FaceCycleImpl::perceptual(const torch::Tensor& x, const StemFeatures& stem_x, const torch::Tensor& neu,
                                        const StemFeatures& stem_neu, const torch::Tensor& others) {
  std::vector<torch::Tensor> target_grams;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> targets;
    if (stem_neu.feat.defined()) {
      auto f3 = stem_x.feat.detach();
      targets = {stem_x.feat2.detach(), f3, vgg_->from_relu3_1(f3)};
    } else {
      targets = vgg_(x);
    }
    for (auto& f : targets) target_grams.push_back(gram(f));
  }
  std::vector<torch::Tensor> neu_feats;
  if (stem_neu.feat.defined()) {
    neu_feats = {stem_neu.feat2, stem_neu.feat, vgg_->from_relu3_1(stem_neu.feat)};
  } else {
    neu_feats = vgg_(neu);
  }
  auto other_feats = vgg_(others);
  // Gram matrices of the four output groups [neu, sbwd, dbwd, recon] against the targets'.
  auto perc = torch::zeros({}, x.options());
  for (size_t i = 0; i < other_feats.size(); ++i) {
    auto grams = torch::cat({gram(neu_feats[i]), gram(other_feats[i])});
    perc = perc + gram_mse_to_target(grams, target_grams[i]);
  }
  return perc;
}

void drop_gradients(const std::vector<torch::Tensor>& params) {
  for (auto p : params) p.mutable_grad() = torch::Tensor();
}

bool FaceCycleImpl::stem_equals_vgg() {
  if (preset_.width_div != 1) return false;
  auto stem = generator_->stem_parameters();  // weight, bias per conv, in kVggStemConvs order
  auto vgg = vgg_->named_parameters();
  for (size_t i = 0; i < 5; ++i) {
    const std::string k = "features." + std::to_string(kVggStemConvs[i]);
    if (!torch::equal(stem[2 * i], vgg[k + ".weight"]) || !torch::equal(stem[2 * i + 1], vgg[k + ".bias"])) {
      return false;
    }
  }
  return true;
}

Embedding FaceCycleImpl::embed(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return encoder_(nhwc(x));
}

CycleImages FaceCycleImpl::cycle_images(const torch::Tensor& x0, const torch::Tensor& x1) {
  torch::NoGradGuard no_grad;
  auto x = nhwc(torch::cat({x0, x1}));
  auto flows = flow_(encoder_(x).code);
  auto neu = generator_(x, flows.flow);
  return {x, neu, generator_(swap_halves(neu), flows.back)};
}

void FaceCycleImpl::load_vgg_weights(const std::filesystem::path& file) {
  std::map<std::string, torch::Tensor> found;
  for (auto& [name, t] : read_torch_tensors(file)) found[name] = t;
  if (vgg_.is_empty()) {
    vgg_ = register_module("vgg", VggTrunk());
    to_channels_last(*vgg_);
  }
  torch::NoGradGuard no_grad;
  for (auto& item : vgg_->named_parameters()) {
    const auto& name = item.key();
    auto& param = item.value();
    auto it = found.find(name);
    if (it == found.end()) throw UsageError(file.string() + ": VGG19 weights lack '" + name + "'");
    if (it->second.sizes() != param.sizes()) {
      throw UsageError(file.string() + ": '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                       c10::str(param.sizes()));
    }
    param.copy_(it->second);
  }
  vgg_->to(encoder_->parameters().front().device());
  if (preset_.width_div == 1) {
    auto stem = generator_->stem_parameters();
    for (size_t i = 0; i < 5; ++i) {
      const std::string k = "features." + std::to_string(kVggStemConvs[i]);
      stem[2 * i].copy_(found[k + ".weight"]);
      stem[2 * i + 1].copy_(found[k + ".bias"]);
    }
    generator_->set_stem_frozen(true);
    spdlog::info("model: VGG19 weights from {}: perceptual term on, generator stem loaded and frozen", file.string());
  } else {
    spdlog::info(
        "model: VGG19 weights from {}: perceptual term on; preset '{}' keeps its own trainable stem "
        "(narrower than VGG19)",
        file.string(), preset_.name);
  }
}

}  // namespace psmflow::model
