// `psmflow train --mode gm|gm-ctl` and the GM phase of `psmflow run`: the General Model trained
// data-parallel on every rank of MPI_COMM_WORLD (one rank without mpirun). Rank 0 decides which
// subjects' frames are used and keeps the manifest record; every rank builds the same network
// from the seed, the trainer broadcasts rank 0's parameters (also after a resume, which every
// rank reads from gm/latest.pt) and averages gradients every step through GradSync; rank 0
// alone writes checkpoints.
// Gradients are averaged while backward() runs (GradSync::overlap_backward).
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "psmflow/train/gm.hpp"
#include "psmflow/train/gm_data.hpp"
#include "psmflow/collectives/grad_sync_backends.hpp"
#include "psmflow/collectives/mpi.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/core/env.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/core/placement.hpp"
#include "psmflow/train/net.hpp"
#include "psmflow/train/stop.hpp"
#include "psmflow/train/trainer.hpp"

namespace psmflow::train {
namespace {

struct GmPlan {
  std::vector<std::string> subjects;  // with frames, sorted by id
  std::string input_hash;             // of their sorted frames checksums (CONTRIBUTING.md)
  bool done = false;
};

GmPlan plan_on_root(const Config& cfg, const RunDir& run, const Manifest& m) {
  GmPlan p;
  std::string sums;
  std::vector<std::string> ids;
  for (const auto& s : cfg.data.subjects) ids.push_back(s.id);
  std::sort(ids.begin(), ids.end());
  for (const auto& id : ids) {
    if (!pipeline::stage_done(m, cfg, id, stage::preprocess)) continue;
    auto rec = m.get(id, stage::preprocess);
    auto it = rec->outputs.find(run.relative(run.frames(id)));
    if (it == rec->outputs.end()) continue;
    p.subjects.push_back(id);
    sums += id + " " + it->second.sha256 + "\n";
  }
  p.input_hash = sha256_hex(sums);
  p.done = m.is_done(kRunScope, stage::gm, p.input_hash, pipeline::config_hash(cfg, stage::gm));
  return p;
}

void broadcast_plan(GmPlan& p, MPI_Comm comm, int rank) {
  std::string text;
  if (rank == 0) text = nlohmann::json{{"subjects", p.subjects}, {"hash", p.input_hash}, {"done", p.done}}.dump();
  int len = static_cast<int>(text.size());
  PSMFLOW_MPI(MPI_Bcast(&len, 1, MPI_INT, 0, comm));
  text.resize(static_cast<std::size_t>(len));
  PSMFLOW_MPI(MPI_Bcast(text.data(), len, MPI_CHAR, 0, comm));
  auto j = nlohmann::json::parse(text);
  p.subjects = j.at("subjects").get<std::vector<std::string>>();
  p.input_hash = j.at("hash");
  p.done = j.at("done");
}

// PSMFLOW_COLLECTIVE_TIMEOUT_S: seconds a collective may take before the job ends (0 = no limit).
std::chrono::milliseconds collective_timeout() {
  double s = env_double("PSMFLOW_COLLECTIVE_TIMEOUT_S").value_or(600);
  if (s < 0) throw UsageError("environment variable PSMFLOW_COLLECTIVE_TIMEOUT_S=" + std::to_string(s) + " is negative");
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

// Test hook: PSMFLOW_TEST_GM_KILL="RANK:EPOCH" kills that rank with SIGKILL when the epoch starts,
// as a node failure would; used to show that the job ends instead of hanging and resumes.
void maybe_die(int rank, int epoch) {
  auto env = env_string("PSMFLOW_TEST_GM_KILL");
  if (!env) return;
  int r = -1, e = -1;
  char end = 0;
  if (std::sscanf(env->c_str(), "%d:%d%c", &r, &e, &end) != 2)
    throw UsageError("environment variable PSMFLOW_TEST_GM_KILL=\"" + *env + "\" is not RANK:EPOCH");
  if (r == rank && e == epoch) ::raise(SIGKILL);
}

class KillHookSampler : public train::PairSampler {
 public:
  KillHookSampler(const GmPairSampler& inner, int rank) : inner_(inner), rank_(rank) {}
  std::vector<train::Pair> epoch_pairs(int epoch) const override {
    maybe_die(rank_, epoch);
    return inner_.epoch_pairs(epoch);
  }
  std::string describe() const override { return inner_.describe(); }

 private:
  const GmPairSampler& inner_;
  int rank_;
};

StageResult train_gm(const Config& cfg, const RunDir& run, const GmPlan& plan, const collectives::RankInfo& info) {
  const int threads = train::apply_threads(cfg.run.threads, info.local_size);
  const torch::Device device = train::choose_device(cfg.run.device, node_local_rank(info.rank, info.local_rank));
  std::vector<fs::path> files;
  for (const auto& id : plan.subjects) files.push_back(run.frames(id));
  CohortFrames frames(files);
  GmSamplerSetup setup;
  setup.mode = cfg.gm.mode;
  setup.seed = cfg.run.seed;
  setup.rank = info.rank;
  setup.world = info.world;
  setup.batch = cfg.gm.batch;
  GmPairSampler pairs(frames, setup);
  KillHookSampler hooked(pairs, info.rank);
  auto net = train::make_facecycle_net(cfg, device);
  if (!cfg.gm.init.empty()) train::load_weights(*net, cfg.gm.init);
  collectives::GradSyncOptions sync_opt;
  sync_opt.timeout = collective_timeout();
  auto sync = collectives::make_grad_sync(MPI_COMM_WORLD, device, sync_opt);
  // The trainer's parameter list (net.trainable_parameters()) is reduced during backward().
  sync->overlap_backward(net->trainable_parameters());
  train::TrainOptions opt;
  opt.section = cfg.gm;
  opt.seed = cfg.run.seed;
  opt.config_hash = pipeline::config_hash(cfg, stage::gm);
  opt.out_dir = run.gm_dir();
  opt.device = device;
  opt.label = "GM";
  opt.first_slot = pairs.sampler().first_slot();
  spdlog::info("GM: {} on {} rank(s), {} on rank {}, {} threads; {}", cfg.gm.mode, info.world, device.str(), info.rank,
               threads, pairs.describe());
  train::install_stop_handlers();
  train::Trainer trainer(*net, frames, hooked, opt, sync.get());
  train::TrainResult result = trainer.run();
  if (result.interrupted)
    throw StageInterrupted("interrupted by signal " + std::to_string(train::stop_signal()) + " after epoch " +
                      std::to_string(result.epochs_done) + "; rerun to resume from " + trainer.latest().string());
  StageResult out;
  out.outputs = result.outputs;
  std::string list;
  for (const auto& id : plan.subjects) list += (list.empty() ? "" : ",") + id;
  out.details = {{"mode", cfg.gm.mode},
                 {"subjects", list},
                 {"subject_count", std::to_string(plan.subjects.size())},
                 {"frames", std::to_string(frames.size())},
                 {"ranks", std::to_string(info.world)},
                 {"batch_per_rank", std::to_string(cfg.gm.batch)},
                 {"epochs", std::to_string(result.epochs_done)},
                 {"images_per_s", std::to_string(result.images_per_s)},
                 {"last_loss", std::to_string(result.last_loss)},
                 {"device", device.str()}};
  return out;
}

// A rank that fails alone would leave the others waiting in a collective: end the job.
[[noreturn]] void abort_job(const collectives::RankInfo& info, const std::string& why) {
  spdlog::critical("GM rank {}: {}; aborting the job (rerun to resume from the last checkpoint)", info.rank, why);
  MPI_Abort(MPI_COMM_WORLD, kExitStageFailed);
  std::_Exit(kExitStageFailed);
}

}  // namespace

int run_gm_training(const Config& cfg, const RunDir& run, Manifest& manifest) {
  if (cfg.gm.mode != "gm" && cfg.gm.mode != "gm-ctl")
    throw UsageError("GM training: mode '" + cfg.gm.mode + "' is not gm or gm-ctl");
  collectives::MpiSession mpi;
  collectives::RankInfo info = collectives::rank_info(MPI_COMM_WORLD);
  GmPlan plan;
  if (info.rank == 0) plan = plan_on_root(cfg, run, manifest);
  broadcast_plan(plan, MPI_COMM_WORLD, info.rank);
  if (plan.subjects.empty()) {
    if (info.rank == 0) spdlog::error("GM: no subject has frames yet (run psmflow preprocess first)");
    return kExitStageFailed;
  }
  if (plan.done) {
    if (info.rank == 0) spdlog::info("GM: already done over these {} subjects, skipped", plan.subjects.size());
    return kExitOk;
  }
  bool interrupted = false;
  auto work = [&]() -> StageResult {
    try {
      return train_gm(cfg, run, plan, info);
    } catch (const StageInterrupted&) {
      interrupted = true;
      throw;
    }
  };
  if (info.rank != 0) {
    try {
      work();
    } catch (const std::exception& e) {
      if (!interrupted) abort_job(info, e.what());
    }
    return interrupted ? train::kExitInterrupted : kExitOk;
  }
  StageOutcome outcome =
      run_stage(manifest, kRunScope, stage::gm, plan.input_hash, pipeline::config_hash(cfg, stage::gm), work, true);
  if (interrupted) {  // run_stage recorded it interrupted
    return train::kExitInterrupted;
  }
  if (outcome == StageOutcome::failed && info.world > 1) abort_job(info, "GM training failed (recorded)");
  return outcome == StageOutcome::failed ? kExitStageFailed : kExitOk;
}

}  // namespace psmflow::train
