// A stand-in for the stage commands (`psmflow preprocess|train|embed|evaluate|collect`), used by the
// Slurm tests through dist's PSMFLOW_TEST_STAGE_CMD hook, so that the real `psmflow run --shard
// --stage` orchestrates under Slurm before the real stages land. Each stage goes through the real
// manifest (run_stage, config stage hashes, output checksums) and writes a small output file.
// A subject whose input file says "fail" fails preprocessing (bad input); "slow [N]" trains for
// N (20) x 0.3 s epochs with a checkpoint per epoch and records "interrupted by signal K" on
// SIGTERM/SIGUSR2.
#include <csignal>
#include <iostream>
#include <map>
#include <thread>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/manifest.hpp"

using namespace psmflow;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int sig) { g_stop = sig; }

struct Args {
  std::string command, subject, mode, model;
  bool untrained = false;
  fs::path config, run_dir;
};

Args parse(int argc, char** argv) {
  Args a;
  a.command = argc > 1 ? argv[1] : "";
  std::map<std::string, std::string*> opts = {{"--config", nullptr}, {"--run-dir", nullptr}, {"--subject", &a.subject},
                                              {"--mode", &a.mode},   {"--model", &a.model},  {"--threads", nullptr}};
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--untrained") {  // the one flag without a value
      a.untrained = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) break;
    std::string v = argv[i + 1];
    if (k == "--config")
      a.config = v;
    else if (k == "--run-dir")
      a.run_dir = v;
    else if (!opts.count(k))
      throw UsageError("stage_standin: unknown option " + k);
    else if (opts[k])
      *opts[k] = v;
  }
  return a;
}

StageResult write_output(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  write_file_atomic(p, text);
  return {{p}, {}};
}

// Resumable training: one checkpoint per epoch; a signal records "interrupted" and exits 3.
int train_slow(Manifest& m, const RunDir& run, const Config& cfg, const std::string& id, int epochs) {
  if (m.is_done(id, stage::psm, "standin", psmflow::pipeline::config_hash(cfg, stage::psm))) return 0;
  Record r = m.begin(id, stage::psm, "standin", psmflow::pipeline::config_hash(cfg, stage::psm));
  fs::path ckpt = run.psm_dir(id) / "checkpoint";
  fs::create_directories(ckpt.parent_path());
  int epoch = fs::exists(ckpt) ? std::stoi(read_file(ckpt)) : 0;
  for (; epoch < epochs; ++epoch) {
    for (int t = 0; t < 3 && !g_stop; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_stop) {
      m.finish_failed(r,
                      "interrupted by signal " + std::to_string(g_stop) + " at epoch " + std::to_string(epoch) +
                          "; checkpoint kept",
                      Status::interrupted);
      return 3;
    }
    write_file_atomic(ckpt, std::to_string(epoch + 1));
    write_file_atomic(run.psm_dir(id) / "epochs.log",
                      (fs::exists(run.psm_dir(id) / "epochs.log") ? read_file(run.psm_dir(id) / "epochs.log") : "") +
                          std::to_string(epoch + 1) + " pid " + std::to_string(::getpid()) + "\n");
  }
  m.finish_done(r, {ckpt});
  return 0;
}

int run(const Args& a) {
  Config cfg = load_config(a.config, false);
  RunDir run(a.run_dir);
  Manifest m(run);
  const std::string& id = a.subject;
  std::string behaviour;
  if (!id.empty()) {
    const SubjectSpec* spec = cfg.find_subject(id);
    if (!spec) throw UsageError("stage_standin: no subject " + id);
    behaviour = fs::exists(spec->input) ? read_file(spec->input) : "";
  }
  auto stage = [&](const std::string& subject, const std::string& name, const std::function<StageResult()>& work,
                   const std::string& input_hash = "standin") {
    return run_stage(m, subject, name, input_hash, psmflow::pipeline::config_hash(cfg, name), work) == StageOutcome::failed ? 1 : 0;
  };
  // Run-level stages depend on which subjects are ready, like the real GM (frames used) and collector.
  auto ready = [&](const std::string& per_subject_stage) {
    std::string list;
    for (const auto& s : cfg.data.subjects) {
      auto r = m.get(s.id, per_subject_stage);
      if (r && r->status == Status::done) list += s.id + ",";
    }
    return list;
  };
  if (a.command == "preprocess")
    return stage(id, stage::preprocess, [&]() -> StageResult {
      if (behaviour.rfind("fail", 0) == 0) throw StageError("bad input: no face found in the video of " + id);
      return write_output(run.frames(id), "frames of " + id);
    });
  if (a.command == "train" && (a.mode == "gm" || a.mode == "gm-ctl"))
    return stage(
        kRunScope, stage::gm, [&] { return write_output(run.gm_dir() / "model.pt", "gm"); }, ready(stage::preprocess));
  if (a.command == "train" && behaviour.rfind("slow", 0) == 0)
    return train_slow(m, run, cfg, id, behaviour.size() > 5 ? std::stoi(behaviour.substr(5)) : 20);
  if (a.command == "train")
    return stage(id, stage::psm, [&] { return write_output(run.psm_dir(id) / "checkpoint", "psm of " + id); });
  if (a.command == "embed" && a.model == "gm")
    return stage(id, stage::embed_gm,
                 [&] { return write_output(run.subject_dir(id) / "embeddings-gm.txt", "gm emb"); });
  if (a.command == "embed" && a.untrained)
    return stage(id, stage::embed_untrained, [&]() -> StageResult {
      if (behaviour.rfind("untrained-fails", 0) == 0) throw StageError("untrained network of " + id + " failed");
      return write_output(run.embeddings(id, "untrained"), "u");
    });
  if (a.command == "embed")
    return stage(id, stage::embed, [&] { return write_output(run.embeddings(id, "psm"), "embeddings of " + id); });
  if (a.command == "evaluate") return stage(id, stage::evaluate, [&] { return write_output(run.eval_json(id), "{}"); });
  if (a.command == "collect")
    return stage(
        kRunScope, stage::collect,
        [&] {
          std::string done, missing;
          for (const auto& s : cfg.data.subjects) {
            auto r = m.get(s.id, stage::evaluate);
            std::string& list = r && r->status == Status::done ? done : missing;
            list += (list.empty() ? "" : ",") + s.id;
          }
          return write_output(run.report_dir() / "report.json",
                              "{\"done\": \"" + done + "\", \"missing\": \"" + missing + "\"}\n");
        },
        ready(stage::evaluate));
  throw UsageError("stage_standin: unknown command " + a.command);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR2, on_signal);
  try {
    return run(parse(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
