#include "psmflow/store/run_dir.hpp"

#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/ids.hpp"

namespace psmflow {

RunDir::RunDir(fs::path root) : root_(fs::absolute(std::move(root)).lexically_normal()) {}

RunDir RunDir::create(const Config& cfg) {
  RunDir run(cfg.run.run_dir);
  std::error_code ec;
  for (const auto& d : {run.root(), run.manifest_dir(), run.logs_dir(), run.subjects_dir()}) {
    fs::create_directories(d, ec);
    if (ec) throw UsageError("cannot create run directory " + d.string() + ": " + ec.message());
  }
  fs::path frozen = run.config_file(), hash_file = run.root() / "config.sha256";
  if (fs::exists(hash_file)) {
    std::string old = read_file(hash_file);
    if (old == cfg.hash) return run;
    if (fs::exists(frozen)) fs::rename(frozen, run.root() / ("config." + old.substr(0, 8) + ".toml"));
  }
  write_file_atomic(frozen, cfg.text);
  write_file_atomic(hash_file, cfg.hash);
  return run;
}

fs::path RunDir::subject_dir(const std::string& id) const {
  std::string why = unsafe_id_reason(id);
  if (!why.empty()) throw UsageError("subject id '" + id + "' is not a safe path component: " + why);
  return subjects_dir() / id;
}

fs::path RunDir::model_dir(const std::string& id, const std::string& tag) const {
  std::string why = unsafe_id_reason(tag);
  if (!why.empty()) throw UsageError("model tag '" + tag + "' is not a safe path component: " + why);
  return subject_dir(id) / tag;
}

fs::path RunDir::embeddings(const std::string& id, const std::string& tag) const {
  std::string why = unsafe_id_reason(tag);
  if (!why.empty()) throw UsageError("embedding tag '" + tag + "' is not a safe path component: " + why);
  return embeddings_dir(id) / (tag + ".h5");
}

std::string RunDir::relative(const fs::path& p) const {
  return fs::absolute(p).lexically_normal().lexically_relative(root_).string();
}

}  // namespace psmflow
