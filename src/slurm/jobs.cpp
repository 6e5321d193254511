#include "psmflow/slurm/jobs.hpp"

#include <nlohmann/json.hpp>

#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/manifest.hpp"

namespace psmflow::slurm {
namespace {
using nlohmann::json;

json to_json(const Round& r) {
  json arrays = json::array();
  for (const auto& a : r.arrays) arrays.push_back({{"job_id", a.job_id}, {"shards", a.shards}});
  return {{"kind", r.kind}, {"submitted", r.submitted}, {"arrays", arrays},
          {"gm", r.gm},     {"collect", r.collect},     {"scripts", r.scripts.string()}};
}

Round round_from_json(const json& j) {
  Round r;
  r.kind = j.at("kind");
  r.submitted = j.value("submitted", "");
  for (const auto& a : j.at("arrays")) r.arrays.push_back({a.at("job_id"), a.at("shards").get<std::vector<int>>()});
  r.gm = j.value("gm", "");
  r.collect = j.value("collect", "");
  r.scripts = j.value("scripts", "");
  return r;
}

}  // namespace

std::optional<JobsFile> JobsFile::load(const fs::path& run_dir) {
  fs::path p = path_in(run_dir);
  if (!fs::exists(p)) return std::nullopt;
  try {
    json j = json::parse(read_file(p));
    JobsFile f;
    f.config = j.at("config").get<std::string>();
    f.shard_count = j.at("shard_count");
    f.run_lock = j.value("run_lock", "");
    for (const auto& r : j.at("rounds")) f.rounds.push_back(round_from_json(r));
    return f;
  } catch (const json::exception& e) {
    throw UsageError(p.string() + ": not a psmflow jobs file: " + e.what());
  }
}

void JobsFile::save(const fs::path& run_dir) const {
  json rounds = json::array();
  for (const auto& r : this->rounds) rounds.push_back(to_json(r));
  json j = {{"config", config.string()}, {"shard_count", shard_count}, {"run_lock", run_lock}, {"rounds", rounds}};
  fs::create_directories(path_in(run_dir).parent_path());
  write_file_atomic(path_in(run_dir), j.dump(2) + "\n");
}

std::string JobsFile::task_of_shard(int k) const {
  for (auto r = rounds.rbegin(); r != rounds.rend(); ++r)
    for (const auto& a : r->arrays)
      for (std::size_t i = 0; i < a.shards.size(); ++i)
        if (a.shards[i] == k) return a.job_id + "_" + std::to_string(i);
  return {};
}

std::string JobsFile::latest_gm() const {
  for (auto r = rounds.rbegin(); r != rounds.rend(); ++r)
    if (!r->gm.empty()) return r->gm;
  return {};
}

std::string JobsFile::latest_collect() const {
  for (auto r = rounds.rbegin(); r != rounds.rend(); ++r)
    if (!r->collect.empty()) return r->collect;
  return {};
}

std::vector<std::string> Round::job_ids() const {
  std::vector<std::string> ids;
  for (const auto& a : arrays) ids.push_back(a.job_id);
  if (!gm.empty()) ids.push_back(gm);
  if (!collect.empty()) ids.push_back(collect);
  return ids;
}

std::vector<std::string> JobsFile::all_job_ids() const {
  std::vector<std::string> ids;
  for (const auto& r : rounds)
    for (auto& id : r.job_ids()) ids.push_back(std::move(id));
  return ids;
}

}  // namespace psmflow::slurm

namespace psmflow::slurm {

Config load_run_config(const fs::path& run_dir, const std::optional<JobsFile>& jobs) {
  fs::path frozen = run_dir / "config.toml";
  if (!fs::is_regular_file(frozen))
    throw UsageError(run_dir.string() + ": not a psmflow run directory (no config.toml in it)");
  fs::path origin = jobs && !jobs->config.empty() ? jobs->config : frozen;
  Config cfg = parse_config(read_file(frozen), origin, /*check_files=*/false, /*require_subjects=*/false);
  if (cfg.data.subjects.empty())
    for (const auto& id : Manifest(RunDir(run_dir)).subjects()) {
      SubjectSpec s;
      s.id = id;
      cfg.data.subjects.push_back(s);
    }
  return cfg;
}

}  // namespace psmflow::slurm
