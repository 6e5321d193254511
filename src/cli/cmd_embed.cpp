#include <memory>
#include <optional>

#include "command.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/train/plugin.hpp"
#include "psmflow/train/stage.hpp"

namespace psmflow::cli {
namespace {

struct EmbedCli {
  CommonOptions common;
  std::string model = "psm";
  std::string checkpoint;
  bool untrained = false;
  std::string device;
  bool accept_unfinished = false;
  std::optional<unsigned long long> seed;
};

int run_embed(const EmbedCli& o) {
  Config cfg = session_config(o.common);
  if (!o.device.empty()) cfg.run.device = o.device;
  if (o.seed) cfg.run.seed = *o.seed;
  std::vector<std::string> ids = subject_ids(o.common, cfg, "embed");
  if (!o.checkpoint.empty() && ids.size() > 1) throw UsageError("embed: --checkpoint goes with one --subject");
  Session s = open_session(std::move(cfg), "embed");
  int code = kExitOk;
  for (const auto& id : ids) {
    train::EmbedRequest req{id, o.model, o.checkpoint.empty() ? fs::path() : fs::absolute(o.checkpoint), o.untrained,
                            o.accept_unfinished};
    if (torch_plugin().embed_subject(s.cfg, s.run, s.manifest, req) != kExitOk) code = kExitStageFailed;
  }
  return code;
}

}  // namespace

Command add_embed(CLI::App& root) {
  CLI::App* sub = root.add_subcommand(
      "embed", "Write the code and pre-MLP feature of every frame to subjects/ID/embeddings/TAG.h5 (indexed by "
      "subjects/ID/embeddings.h5)");
  auto o = std::make_shared<EmbedCli>();
  add_common_options(sub, o->common);
  sub->add_option("--model", o->model, "psm | gm | a tag trained with psmflow train --tag")->capture_default_str();
  sub->add_option("--checkpoint", o->checkpoint, "Embed with this checkpoint instead of the model's final.pt")
      ->check(CLI::ExistingFile);
  add_accept_unfinished(sub, o->accept_unfinished);
  sub->add_flag("--untrained", o->untrained,
                "Embed with the untrained network of the config's preset and seed (tag untrained, a baseline)");
  const Config d = default_config();  // the help shows the built-in defaults, never a typed copy
  sub->add_option("--seed", o->seed,
                  "Seed of the --untrained network (default: [run] seed, " + std::to_string(d.run.seed) + ")");
  sub->add_option("--device", o->device, "auto | cpu | cuda (default: [run] device, " + d.run.device + ")")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  return {sub, [o] { return run_embed(*o); }};
}

}  // namespace psmflow::cli
