// Times one subject's evaluation at the paper's sizes (tools/bench/evaluate runs it): 486 frames of
// 64x64 crops, 256-d codes and 2048-d features for psm, gm and untrained, default [eval] settings.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "psmflow/eval/evaluate.hpp"
#include "psmflow/store/run_dir.hpp"
#include "synthetic_run.hpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int frames = argc > 1 ? std::atoi(argv[1]) : 486;
  // A second argument keeps the synthetic run there (for trying other stages on it).
  const bool keep = argc > 2;
  fs::path dir = keep ? fs::path(argv[2]) : fs::temp_directory_path() / ("psmflow-bench-eval-" + std::to_string(::getpid()));
  psmflow::test::SyntheticSubject s{"S01", frames, {}, 64, 256, 2048};
  psmflow::test::write_synthetic_run(dir, {s});
  psmflow::Config cfg = psmflow::default_config();
  psmflow::RunDir run(dir);
  for (const char* emb : {"code", "feature"}) {
    cfg.model.embedding = emb;
    auto t0 = std::chrono::steady_clock::now();
    auto data = psmflow::eval::load_subject(run, "S01", emb);
    auto t1 = std::chrono::steady_clock::now();
    auto j = psmflow::eval::evaluate_subject(data, cfg);
    auto t2 = std::chrono::steady_clock::now();
    std::printf("evaluate %d frames, embedding %-7s: load %.2f s, evaluate %.2f s (psm F1 %.3f, %zu active AUs)\n", frames,
                emb, std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
                j["models"]["psm"]["mean"]["mean"].get<double>(), j["active_aus"].size());
  }
  if (!keep) fs::remove_all(dir);
}
