// The train and embed stages of one subject, behind `psmflow train` and `psmflow embed` (no
// LibTorch in this header: the CLI includes it). Both run through run_stage(); an interrupted
// or failed record never blocks a rerun, and training resumes from latest.pt when it fits.
#pragma once
#include <filesystem>
#include <string>

#include "psmflow/config/config.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow::train {

struct TrainRequest {
  std::string subject;
  std::string tag = "psm";  // "psm" -> subjects/<id>/psm, stage psm; other tags -> subjects/<id>/<tag>, stage train-<tag>
  int loader_depth = 2;
  bool accept_unfinished = false;  // train on frames whose preprocess record is not done
};
// Trains with cfg.psm (mode psm or psm-ctl) and cfg.model. Returns the exit code: 0 done or
// skipped, 1 failed (recorded), kExitInterrupted (3) stopped by a signal after a checkpoint.
int train_subject(const Config& cfg, const RunDir& run, Manifest& manifest, const TrainRequest& req);

struct EmbedRequest {
  std::string subject;
  std::string model = "psm";        // psm | gm | a tag of subjects/<id>/<tag>
  std::filesystem::path checkpoint;  // empty = final.pt of that model
  bool untrained = false;            // the network of the config's preset and seed, no training
  bool accept_unfinished = false;    // embed frames whose preprocess record is not done
};
int embed_subject(const Config& cfg, const RunDir& run, Manifest& manifest, const EmbedRequest& req);

}  // namespace psmflow::train
