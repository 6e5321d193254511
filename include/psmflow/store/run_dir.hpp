// The one owner of every path in a run directory (PRODUCT.md "Run directory"):
//   config.toml            frozen config (config.sha256 beside it)
//   manifest/<id>/<stage>.json   one record per (subject, stage); run-level stages use id "_run"
//   logs/                  one log file per process
//   subjects/<id>/frames.h5, contact_sheet.png, psm/, embeddings/<tag>.h5, embeddings.h5, eval.json
//   gm/                    GM checkpoints and losses.csv
//   report/                report.json, report.md, report.html, figures
//   slurm/                 generated scripts, jobs.json, logs
#pragma once
#include <filesystem>
#include <string>

namespace psmflow {
namespace fs = std::filesystem;
struct Config;

class RunDir {
 public:
  explicit RunDir(fs::path root);
  // Creates the folders and freezes the config (a changed config is kept as config.<hash8>.toml).
  static RunDir create(const Config& cfg);

  const fs::path& root() const { return root_; }
  fs::path config_file() const { return root_ / "config.toml"; }
  fs::path manifest_dir() const { return root_ / "manifest"; }
  fs::path logs_dir() const { return root_ / "logs"; }
  fs::path subjects_dir() const { return root_ / "subjects"; }
  fs::path subject_dir(const std::string& id) const;  // validates id
  fs::path frames(const std::string& id) const { return subject_dir(id) / "frames.h5"; }
  fs::path contact_sheet(const std::string& id) const { return subject_dir(id) / "contact_sheet.png"; }
  fs::path psm_dir(const std::string& id) const { return subject_dir(id) / "psm"; }
  // Other models trained on one subject (transfer-learning variants, CTL): subjects/<id>/<tag>/
  fs::path model_dir(const std::string& id, const std::string& tag) const;
  // One file per model tag, each the output of one embed stage; embeddings.h5 beside them is an
  // index of HDF5 external links (one per tag), so h5py finds all of a subject's embeddings.
  fs::path embeddings_dir(const std::string& id) const { return subject_dir(id) / "embeddings"; }
  fs::path embeddings(const std::string& id, const std::string& tag) const;  // validates tag
  fs::path embeddings_index(const std::string& id) const { return subject_dir(id) / "embeddings.h5"; }
  fs::path eval_json(const std::string& id) const { return subject_dir(id) / "eval.json"; }
  fs::path gm_dir() const { return root_ / "gm"; }
  fs::path report_dir() const { return root_ / "report"; }
  fs::path slurm_dir() const { return root_ / "slurm"; }
  // Path relative to the run directory, as stored in manifest records.
  std::string relative(const fs::path& p) const;

 private:
  fs::path root_;
};

}  // namespace psmflow
