#include "psmflow/slurm/status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "psmflow/config/config.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/slurm/shards.hpp"

namespace psmflow::slurm {
namespace {

const std::vector<Status> kOrder = {Status::done, Status::running, Status::failed, Status::interrupted,
                                    Status::pending};

bool is_running_state(const std::string& s) { return s == "RUNNING" || s == "COMPLETING" || s == "CONFIGURING"; }

// A "running" record is only believed while its job runs: a cancelled, timed-out or requeued
// job leaves its record behind, and that work was interrupted.
Status effective(const Manifest& m, const Record& r, const std::string& job, const RunStatus& s) {
  Status st = m.effective_status(r);
  if (st != Status::running || !s.scheduler_checked || job.empty()) return st;
  auto it = s.job_states.find(job);
  return it != s.job_states.end() && is_running_state(it->second) ? Status::running : Status::interrupted;
}

Status stage_status(const Manifest& m, const std::string& subject, const std::string& stage, const std::string& job,
                    RunStatus& s) {
  auto r = m.get(subject, stage);
  if (!r) return Status::pending;
  Status st = effective(m, *r, job, s);
  if (st == Status::failed || st == Status::interrupted) {
    std::string why = r->error;
    if (why.empty() && st == Status::interrupted)
      why = "stopped while running (host " + r->host + ", attempt " + std::to_string(r->attempt) + ")";
    s.problems.push_back({subject, stage, st, why});
  }
  return st;
}

void read_scheduler(const std::optional<JobsFile>& jobs, Scheduler* scheduler, RunStatus& s) {
  if (!jobs || !scheduler) return;
  auto states = scheduler->query(jobs->all_job_ids());
  if (!states) return;
  s.scheduler_checked = true;
  for (const auto& j : *states) s.job_states[j.id] = j.state;
}

// The batch scripts' preemption handler appends one JSON line per signal, requeue or give-up.
void read_events(const fs::path& file, RunStatus& s) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;  // a line cut short by a crash
    std::string event = j.value("event", "");
    if (event == "requeue") ++s.requeues;
    if (event == "gave-up") s.gave_up.push_back(j.value("job", ""));
  }
}

bool active(const RunStatus& s, const std::string& job) {
  auto it = s.job_states.find(job);
  return !job.empty() && it != s.job_states.end() && is_active_state(it->second);
}

}  // namespace

std::vector<std::string> shard_stages(const pipeline::Pipeline& pipe) {
  return pipe.in_phase(0, pipeline::Scope::subject);
}

bool is_active_state(const std::string& st) {
  static const std::set<std::string> live = {"PENDING",   "RUNNING",      "CONFIGURING", "COMPLETING",
                                             "REQUEUED",  "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
                                             "SUSPENDED", "SIGNALING",    "STAGE_OUT"};
  return live.count(st) > 0;
}

RunStatus read_status(const Config& cfg, const Manifest& m, const std::optional<JobsFile>& jobs, Scheduler* scheduler,
                      const pipeline::Pipeline& pipe) {
  RunStatus s;
  s.subject_stages = pipe.names(pipeline::Scope::subject);
  s.run_stages = pipe.names(pipeline::Scope::run);
  const std::vector<std::string> in_shard = shard_stages(pipe);
  auto is_shard_stage = [&](const std::string& st) {
    return std::find(in_shard.begin(), in_shard.end(), st) != in_shard.end();
  };
  read_scheduler(jobs, scheduler, s);
  std::string gm_job = jobs ? jobs->latest_gm() : "", collect_job = jobs ? jobs->latest_collect() : "";
  std::vector<Shard> shards = plan_shards(cfg);
  s.subjects = static_cast<int>(cfg.data.subjects.size());
  s.shards = static_cast<int>(shards.size());
  for (const Shard& sh : shards) {
    std::string task = jobs ? jobs->task_of_shard(sh.index) : "";
    bool unfinished = false;
    for (const auto& id : sh.subjects)
      for (const auto& st : s.subject_stages) {
        Status v = stage_status(m, id, st, is_shard_stage(st) ? task : collect_job, s);
        s.counts[st][v]++;
        if (is_shard_stage(st) && v != Status::done) unfinished = true;
      }
    if (unfinished) s.unfinished_shards.push_back(sh.index);
    if (active(s, task)) s.active_shards.push_back(sh.index);
  }
  for (const auto& st : s.run_stages)
    s.run_level[st] = stage_status(m, kRunScope, st, st == stage::gm ? gm_job : collect_job, s);
  read_events(m.run().slurm_dir() / "events.jsonl", s);
  s.gm_active = active(s, gm_job);
  s.collect_active = active(s, collect_job);
  return s;
}

std::string format_status(const RunStatus& s) {
  std::string out = fmt::format("{} subjects in {} shards\n{:<16}", s.subjects, s.shards, "stage");
  for (Status st : kOrder) out += fmt::format("{:>12}", to_string(st));
  out += "\n";
  for (const auto& stage : s.subject_stages) {
    out += fmt::format("{:<16}", stage);
    for (Status st : kOrder) {
      auto c = s.counts.find(stage);
      out += fmt::format("{:>12}", c == s.counts.end() || !c->second.count(st) ? 0 : c->second.at(st));
    }
    out += "\n";
  }
  for (const auto& stage : s.run_stages)
    if (s.run_level.count(stage)) out += fmt::format("{:<16}{:>12}\n", stage, to_string(s.run_level.at(stage)));
  if (!s.problems.empty()) out += "failed or interrupted:\n";
  for (const auto& p : s.problems)
    out += fmt::format("  {} {} {}: {}\n", p.subject, p.stage, to_string(p.status), p.error);
  if (!s.unfinished_shards.empty()) out += fmt::format("unfinished shards: {}\n", fmt::join(s.unfinished_shards, " "));
  if (s.requeues > 0 || !s.gave_up.empty())
    out += fmt::format("preemption/time limit: {} requeue(s); gave up after max_requeues: {}\n", s.requeues,
                       s.gave_up.empty() ? "none" : fmt::format("{}", fmt::join(s.gave_up, " ")));
  if (s.scheduler_checked) {
    int live = 0;
    for (const auto& [id, st] : s.job_states) live += is_active_state(st);
    out += fmt::format("slurm: {} of {} jobs/tasks still queued or running", live, s.job_states.size());
    if (!s.active_shards.empty()) out += fmt::format(" (shards {})", fmt::join(s.active_shards, " "));
    out += "\n";
  } else {
    out += "slurm: not consulted (no jobs.json, or squeue unreachable); statuses come from the manifest alone\n";
  }
  return out;
}

nlohmann::json status_json(const RunStatus& s) {
  using nlohmann::json;
  json stages = json::object();
  for (const auto& [stage, counts] : s.counts) {
    json c = json::object();
    for (Status st : kOrder) c[to_string(st)] = counts.count(st) ? counts.at(st) : 0;
    stages[stage] = c;
  }
  json run = json::object();
  for (const auto& [stage, st] : s.run_level) run[stage] = to_string(st);
  json problems = json::array();
  for (const auto& p : s.problems)
    problems.push_back(
        {{"subject", p.subject}, {"stage", p.stage}, {"status", to_string(p.status)}, {"error", p.error}});
  return {{"subjects", s.subjects},
          {"shards", s.shards},
          {"stages", stages},
          {"run", run},
          {"problems", problems},
          {"unfinished_shards", s.unfinished_shards},
          {"active_shards", s.active_shards},
          {"scheduler_checked", s.scheduler_checked},
          {"requeues", s.requeues},
          {"gave_up", s.gave_up},
          {"jobs", s.job_states}};
}

}  // namespace psmflow::slurm
