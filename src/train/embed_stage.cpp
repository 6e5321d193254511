#include <spdlog/spdlog.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/pipeline/plan.hpp"
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

int embed_subject(const Config& cfg, const RunDir& run, Manifest& manifest, const EmbedRequest& req) {
  const std::string tag = req.untrained ? "untrained" : req.model;
  const std::filesystem::path ckpt =
      req.untrained ? std::filesystem::path() : (req.checkpoint.empty() ? default_checkpoint(run, req.subject, tag) : req.checkpoint);
  if (!req.untrained && !std::filesystem::exists(ckpt))
    throw StageError(ckpt.string() + ": no checkpoint to embed with (train the " + tag + " model first)");
  const pipeline::Stage st = pipeline::embed_stage(tag);
  const std::string model_hash = req.untrained
                                     ? sha256_hex("untrained " + cfg.model.preset + " " + std::to_string(cfg.run.seed))
                                     : sha256_file(ckpt);
  // The checkpoint stands for the training record (an explicit --checkpoint has none): only the
  // frames are read through the manifest.
  pipeline::Stage frames_only = st;
  frames_only.needs = {stage::preprocess};
  const std::string input_hash =
      sha256_hex(model_hash + pipeline::needs_hash(manifest, frames_only, req.subject, req.accept_unfinished));
  const std::string config_hash = pipeline::config_hash(cfg, st);
  const std::filesystem::path file = st.output(run, req.subject);
  auto work = [&]() -> StageResult {
    apply_threads(cfg.run.threads);
    const torch::Device device = choose_device(cfg.run.device);
    MemoryFrames frames = load_frames(run.frames(req.subject), false);
    auto net = make_facecycle_net(cfg, device);
    if (!req.untrained) load_weights(*net, ckpt);
    Embeddings e = embed_frames(*net, frames, device);
    e.checkpoint = req.untrained ? "untrained" : ckpt.string();
    e.checkpoint_sha256 = req.untrained ? "" : model_hash;
    write_embeddings(file, tag, e);
    write_embeddings_index(run.embeddings_index(req.subject), run.embeddings_dir(req.subject));
    spdlog::info("{} {}: {} frames, code {}-d, feature {}-d -> {}", req.subject, tag, e.n, e.code_dim, e.feature_dim,
                 file.string());
    StageResult out;
    out.outputs = {file};
    out.details = {{"tag", tag}, {"frames", std::to_string(e.n)}, {"checkpoint", e.checkpoint}};
    return out;
  };
  StageOutcome outcome = run_stage(manifest, req.subject, st.name, input_hash, config_hash, work);
  return outcome == StageOutcome::failed ? kExitStageFailed : kExitOk;
}

}  // namespace psmflow::train
