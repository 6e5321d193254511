#include <spdlog/spdlog.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/store/embeddings.hpp"
#include "psmflow/train/augment.hpp"
#include "psmflow/train/frames.hpp"
#include "psmflow/train/net.hpp"
#include "psmflow/train/stage.hpp"

namespace psmflow::train {
namespace {

constexpr std::int64_t kEmbedBatch = 64;

std::filesystem::path default_checkpoint(const RunDir& run, const std::string& id, const std::string& model) {
  if (model == "psm") return run.psm_dir(id) / "final.pt";
  if (model == "gm") return run.gm_dir() / "final.pt";
  return run.model_dir(id, model) / "final.pt";
}

Embeddings embed_frames(TrainableNet& net, const MemoryFrames& frames, const torch::Device& device) {
  Embeddings e;
  e.n = frames.size();
  e.frame_index = frames.frame_index();
  net.module().eval();
  for (std::int64_t begin = 0; begin < e.n; begin += kEmbedBatch) {
    const std::int64_t b = std::min(kEmbedBatch, e.n - begin);
    auto x = torch::empty({b, 3, kImageSize, kImageSize});
    for (std::int64_t k = 0; k < b; ++k)
      eval_image(frames.frame(begin + k), frames.crop_size(), x[k].data_ptr<float>());
    model::Embedding out = net.embed(x.to(device));
    auto code = out.code.to(torch::kCPU).to(torch::kFloat).contiguous();
    auto feature = out.feature.to(torch::kCPU).to(torch::kFloat).contiguous();
    e.code_dim = static_cast<int>(code.size(1));
    e.feature_dim = static_cast<int>(feature.size(1));
    e.code.insert(e.code.end(), code.data_ptr<float>(), code.data_ptr<float>() + code.numel());
    e.feature.insert(e.feature.end(), feature.data_ptr<float>(), feature.data_ptr<float>() + feature.numel());
  }
  return e;
}

}  // namespace

std::string embed_stage_name(const std::string& model) {
  if (model == "psm") return stage::embed;
  if (model == "gm") return stage::embed_gm;
  return "embed-" + model;
}

int embed_subject(const Config& cfg, const RunDir& run, Manifest& manifest, const EmbedRequest& req) {
  const std::string tag = req.untrained ? "untrained" : req.model;
  const std::filesystem::path ckpt =
      req.untrained ? std::filesystem::path() : (req.checkpoint.empty() ? default_checkpoint(run, req.subject, tag) : req.checkpoint);
  if (!req.untrained && !std::filesystem::exists(ckpt))
    throw StageError(ckpt.string() + ": no checkpoint to embed with (train the " + tag + " model first)");
  const std::string input_hash = req.untrained
                                     ? sha256_hex("untrained " + cfg.model.preset + " " + std::to_string(cfg.run.seed))
                                     : sha256_file(ckpt);
  const std::string config_hash = cfg.stage_hash(tag == "gm" ? stage::embed_gm : stage::embed);
  auto work = [&]() -> StageResult {
    apply_threads(cfg.run.threads);
    const torch::Device device = choose_device(cfg.run.device);
    MemoryFrames frames = load_frames(run.frames(req.subject), false);
    auto net = make_facecycle_net(cfg, device);
    if (!req.untrained) load_weights(*net, ckpt);
    Embeddings e = embed_frames(*net, frames, device);
    e.checkpoint = req.untrained ? "untrained" : ckpt.string();
    e.checkpoint_sha256 = req.untrained ? "" : input_hash;
    write_embeddings(run.embeddings(req.subject), tag, e);
    spdlog::info("{} {}: {} frames, code {}-d, feature {}-d -> {}", req.subject, tag, e.n, e.code_dim, e.feature_dim,
                 run.embeddings(req.subject).string());
    // embeddings.h5 is shared by every tag, so its checksum is not this stage's output (adding a
    // tag would make the other tags' records look stale); the record names file and tag instead.
    StageResult out;
    out.details = {{"file", run.relative(run.embeddings(req.subject))},
                   {"tag", tag},
                   {"frames", std::to_string(e.n)},
                   {"checkpoint", e.checkpoint}};
    return out;
  };
  StageOutcome outcome = run_stage(manifest, req.subject, embed_stage_name(tag), input_hash, config_hash, work);
  return outcome == StageOutcome::failed ? kExitStageFailed : kExitOk;
}

}  // namespace psmflow::train
