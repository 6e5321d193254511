#include "psmflow/slurm/submit.hpp"

#include "psmflow/pipeline/stages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>

#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"

namespace psmflow::slurm {
namespace {

struct PlannedJob {
  std::string file;  // name inside the round folder
  std::string text;
  std::vector<int> shards;  // array jobs only
};

std::vector<PlannedJob> plan_scripts(const ScriptContext& ctx, const RoundRequest& req, int max_array) {
  std::vector<PlannedJob> jobs;
  auto parts = split_arrays(req.shards, max_array);
  for (std::size_t p = 0; p < parts.size(); ++p) {
    std::string suffix = parts.size() > 1 ? std::to_string(p) : "";
    jobs.push_back({fmt::format("array-{}.sbatch", p), array_script(ctx, parts[p], suffix), parts[p]});
  }
  if (req.gm) jobs.push_back({"gm.sbatch", gm_script(ctx), {}});
  if (req.collect) jobs.push_back({"collect.sbatch", collect_script(ctx), {}});
  return jobs;
}

std::string shell_words(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ":") + s;
  return out;
}

void print_dry_run(const std::vector<PlannedJob>& jobs, const fs::path& folder, const ScriptContext& ctx,
                   std::ostream& out) {
  std::vector<std::string> arrays, after_gm;
  for (const auto& j : jobs) {
    out << "# ===== " << (folder / j.file).string() << " =====\n" << j.text << "\n";
    std::string dep;
    if (j.file == "gm.sbatch") dep = "--dependency=afterany:" + shell_words(arrays) + " ";
    if (j.file == "collect.sbatch") dep = "--dependency=afterany:" + shell_words(after_gm) + " ";
    std::string var = "<" + j.file.substr(0, j.file.find('.')) + "-job-id>";
    out << "# would run: cd " << shell_quote(ctx.run_dir.string()) << " && sbatch --parsable " << dep
        << shell_quote((folder / j.file).string()) << "\n\n";
    if (!j.shards.empty()) arrays.push_back(var);
    after_gm.push_back(var);
  }
}

}  // namespace

Round submit_round(const ScriptContext& ctx, Scheduler& scheduler, const RoundRequest& req, JobsFile& jobs,
                   std::ostream& out) {
  int max_array = req.max_array_size > 0 ? req.max_array_size : scheduler.max_array_size();
  auto planned = plan_scripts(ctx, req, max_array);
  fs::path folder = ctx.run_dir / "slurm" / fmt::format("round-{}", jobs.rounds.size());
  Round round{req.kind, now_iso8601(), {}, {}, {}, folder};
  if (req.dry_run) {
    print_dry_run(planned, folder, ctx, out);
    return round;
  }
  fs::create_directories(ctx.run_dir / "slurm" / "logs");
  fs::create_directories(folder);
  for (const auto& j : planned) write_file_atomic(folder / j.file, j.text);
  // Record each id as soon as it exists, so a failure half-way still leaves the submitted jobs in jobs.json.
  jobs.rounds.push_back(round);
  Round& r = jobs.rounds.back();
  std::vector<std::string> arrays;
  for (const auto& j : planned) {
    fs::path script = folder / j.file;
    if (!j.shards.empty()) {
      std::string id = scheduler.submit(script, {}, ctx.run_dir);
      r.arrays.push_back({id, j.shards});
      arrays.push_back(id);
    } else if (j.file == "gm.sbatch") {
      r.gm = scheduler.submit(script, arrays, ctx.run_dir);
    } else {
      std::vector<std::string> after = arrays;
      if (!r.gm.empty()) after.push_back(r.gm);
      r.collect = scheduler.submit(script, after, ctx.run_dir);
    }
    jobs.save(ctx.run_dir);
    out << fmt::format("submitted {} as job {}\n", script.string(),
                       j.shards.empty() ? (j.file == "gm.sbatch" ? r.gm : r.collect) : r.arrays.back().job_id);
  }
  jobs.save(ctx.run_dir);
  return r;
}

ResumePlan plan_resume(const RunStatus& s, bool config_changed) {
  ResumePlan p;
  if (s.gm_active || s.collect_active) {
    p.blocked = "the GM or collector job of this run is still queued or running; wait for it or scancel it first";
    return p;
  }
  std::vector<int> candidates = s.unfinished_shards;
  if (config_changed)
    for (int k = 0; k < s.shards; ++k) candidates.push_back(k);
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (int k : candidates)
    if (std::find(s.active_shards.begin(), s.active_shards.end(), k) == s.active_shards.end()) p.shards.push_back(k);
  // New subject data changes the GM's input hash; the GM stage itself skips when nothing changed.
  p.gm = config_changed || !p.shards.empty() || s.run_level.at(stage::gm) != Status::done;
  p.collect = p.gm || s.run_level.at(stage::collect) != Status::done;
  return p;
}

}  // namespace psmflow::slurm
