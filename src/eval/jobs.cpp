#include "psmflow/eval/jobs.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <map>
#include <set>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/pipeline/stages.hpp"
#include "psmflow/store/manifest.hpp"
#include "psmflow/store/run_dir.hpp"

namespace psmflow::eval {

namespace {

[[noreturn]] void fail(const fs::path& file, const toml::node& n, const std::string& key, const std::string& why) {
  throw UsageError(fmt::format("{}:{}: key '{}': {}", file.string(), n.source().begin.line, key, why));
}

int positive_int(const fs::path& file, const toml::node& n, const std::string& key) {
  if (!n.is_integer()) fail(file, n, key, "expected an integer");
  long long v = *n.value<long long>();
  if (v < 1 || v > 1000000) fail(file, n, key, fmt::format("{} is out of range (1..1000000)", v));
  return static_cast<int>(v);
}

std::string text(const fs::path& file, const toml::node& n, const std::string& key) {
  if (!n.is_string()) fail(file, n, key, "expected a string");
  return *n.value<std::string>();
}

}  // namespace

JobSpec parse_job(const std::string& src, const fs::path& origin) {
  JobSpec j;
  j.file = fs::absolute(origin);
  toml::table doc;
  try {
    doc = toml::parse(src, j.file.string());
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}:{}: {}", j.file.string(), e.source().begin.line, e.description()));
  }
  for (auto&& [k, node] : doc)
    if (k.str() != "job") fail(j.file, node, std::string(k.str()), "a job file has only a [job] table (settings go in its config)");
  const toml::table* t = doc["job"].as_table();
  if (!t) throw UsageError(j.file.string() + ": no [job] table");
  std::set<std::string> seen;
  for (auto&& [k, node] : *t) {
    std::string key(k.str()), full = "job." + key;
    seen.insert(key);
    if (key == "kind") {
      j.kind = text(j.file, node, full);
      if (j.kind != "psm-vs-gm" && j.kind != "transfer" && j.kind != "ctl")
        fail(j.file, node, full, "'" + j.kind + "' is not a job kind (known: psm-vs-gm, transfer, ctl)");
    } else if (key == "config") {
      fs::path p = text(j.file, node, full);
      j.config = p.is_absolute() ? p : (j.file.parent_path() / p).lexically_normal();
    } else if (key == "description") {
      j.description = text(j.file, node, full);
    } else if (key == "long_epochs" || key == "short_epochs" || key == "epochs" || key == "every") {
      int v = positive_int(j.file, node, full);
      (key == "long_epochs" ? j.long_epochs : key == "short_epochs" ? j.short_epochs : key == "epochs" ? j.epochs : j.every) = v;
      bool fits = key == "long_epochs" || key == "short_epochs" ? j.kind == "transfer" : j.kind == "ctl";
      if (!fits && !j.kind.empty()) fail(j.file, node, full, "not a key of a '" + j.kind + "' job");
    } else {
      fail(j.file, node, full, "unknown key in [job] (known: kind, config, description, long_epochs, short_epochs, epochs, every)");
    }
  }
  if (!seen.count("kind")) throw UsageError(j.file.string() + ": [job] needs kind = \"psm-vs-gm\" | \"transfer\" | \"ctl\"");
  if (!seen.count("config")) throw UsageError(j.file.string() + ": [job] needs config = \"path/to/config.toml\"");
  return j;
}

JobSpec load_job(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw UsageError(file.string() + ": job file not found");
  try {
    return parse_job(read_file(file), file);
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
}

bool is_job_file(const fs::path& file) {
  try {
    return toml::parse_file(file.string())["job"].is_table();
  } catch (const std::exception&) {
    return false;
  }
}

namespace {

// Builds the step list; add() keeps ids unique and dependencies already present.
class Plan {
 public:
  Plan(const JobSpec& spec, const Config& cfg) : run_(cfg.run.run_dir), config_(spec.config.string()) {}

  void add(std::string id, std::string subject, std::vector<std::string> args, std::vector<std::string> after) {
    for (const auto& a : after)
      if (!ids_.count(a)) throw std::logic_error("job step " + id + " needs unknown step " + a);
    if (!ids_.insert(id).second) throw std::logic_error("job step " + id + " twice");
    args.insert(args.begin() + 1, {"--config", config_});
    steps_.push_back({std::move(id), std::move(subject), std::move(args), std::move(after)});
  }
  bool has(const std::string& id) const { return ids_.count(id) > 0; }
  const RunDir& run() const { return run_; }
  std::vector<JobStep> take() { return std::move(steps_); }

 private:
  RunDir run_;
  std::string config_;
  std::set<std::string> ids_;
  std::vector<JobStep> steps_;
};

std::string train_id(const std::string& id, const std::string& tag) { return "train/" + id + "/" + tag; }
std::string embed_id(const std::string& id, const std::string& tag) { return "embed/" + id + "/" + tag; }

// Steps run a stage of the registry (its command), with the job's own arguments after it.
std::vector<std::string> command_of(const pipeline::Stage& st, const std::string& id) {
  std::vector<std::string> args = st.command;
  if (st.scope == pipeline::Scope::subject) args.insert(args.begin() + 1, {"--subject", id});
  return args;
}

void train_psm(Plan& p, const std::string& id, const std::string& tag, const std::string& mode, int epochs,
               const fs::path& init, std::vector<std::string> after) {
  std::vector<std::string> args = command_of(pipeline::train_stage(tag), id);
  if (tag == "psm") args.insert(args.end(), {"--tag", tag});
  args.insert(args.end(), {"--mode", mode});
  if (epochs > 0) args.insert(args.end(), {"--epochs", std::to_string(epochs)});
  if (!init.empty()) args.insert(args.end(), {"--init", init.string()});
  after.insert(after.begin(), "preprocess/" + id);
  p.add(train_id(id, tag), id, args, after);
}

void embed(Plan& p, const std::string& id, const std::string& tag, const std::string& after,
           const fs::path& checkpoint = {}) {
  std::vector<std::string> args = command_of(pipeline::embed_stage(tag), id);
  if (!checkpoint.empty()) args.insert(args.end(), {"--checkpoint", checkpoint.string()});
  p.add(embed_id(id, tag), id, args, {after});
}

fs::path final_ckpt(const RunDir& run, const std::string& id, const std::string& tag) {
  return (tag == "psm" ? run.psm_dir(id) : run.model_dir(id, tag)) / "final.pt";
}

}  // namespace

std::vector<JobStep> expand_job(const JobSpec& spec, const Config& cfg) {
  if (cfg.data.subjects.empty()) throw UsageError(spec.config.string() + ": the job's config lists no subjects");
  std::vector<std::string> ids;
  for (const auto& s : cfg.data.subjects) ids.push_back(s.id);
  if (spec.kind == "transfer" && ids.size() < 2)
    throw UsageError(spec.file.string() + ": a transfer job needs at least two subjects (each seeds the others)");
  if (spec.kind == "ctl" && spec.every % std::max(cfg.psm.checkpoint_every, 1) != 0)
    throw UsageError(fmt::format("{}: job.every = {} is not a multiple of [train.psm] checkpoint_every = {} in {}",
                                 spec.file.string(), spec.every, cfg.psm.checkpoint_every, spec.config.string()));
  Plan p(spec, cfg);
  const RunDir& run = p.run();
  const pipeline::Pipeline& pipe = pipeline::standard_pipeline();
  std::vector<std::string> all_pre;
  for (const auto& id : ids) {
    p.add("preprocess/" + id, id, command_of(pipe.at(stage::preprocess), id), {});
    all_pre.push_back("preprocess/" + id);
  }
  p.add(train_id(kRunScope, "gm"), kRunScope, command_of(pipe.at(stage::gm), kRunScope), all_pre);

  const int long_epochs = spec.kind == "transfer" ? spec.long_epochs : spec.kind == "ctl" ? spec.epochs : 0;
  std::map<std::string, std::vector<std::string>> tags;  // per subject: tags to evaluate
  for (const auto& id : ids) {
    train_psm(p, id, "psm", "psm", long_epochs, {}, {});
    tags[id] = {"psm", "gm", "untrained"};
  }
  if (spec.kind == "transfer") {
    for (const auto& id : ids) {
      train_psm(p, id, "tl-gm", "psm", spec.short_epochs, run.gm_dir() / "final.pt", {train_id(kRunScope, "gm")});
      for (const auto& src : ids)
        if (src != id)
          train_psm(p, id, "tl-psm-" + src, "psm", spec.short_epochs, final_ckpt(run, src, "psm"), {train_id(src, "psm")});
      train_psm(p, id, "tl-scratch", "psm", spec.short_epochs, {}, {});
      for (const auto& src : ids)
        if (src != id) tags[id].push_back("tl-psm-" + src);
      tags[id].insert(tags[id].end(), {"tl-gm", "tl-scratch"});
    }
  }
  if (spec.kind == "ctl") {
    const int epochs = spec.epochs > 0 ? spec.epochs : cfg.psm.epochs;
    for (const auto& id : ids) {
      train_psm(p, id, "ctl", "psm-ctl", epochs, {}, {});
      for (int e = spec.every; e <= epochs; e += spec.every)
        for (const std::string series : {"psm", "ctl"}) {
          std::string tag = series + "-e" + std::to_string(e);
          fs::path dir = series == "psm" ? run.psm_dir(id) : run.model_dir(id, "ctl");
          embed(p, id, tag, train_id(id, series), dir / ("ckpt-e" + std::to_string(e) + ".pt"));
          tags[id].push_back(tag);
        }
    }
  }
  std::vector<std::string> all_eval;
  for (const auto& id : ids) {
    std::vector<std::string> needs;
    for (const auto& tag : tags[id]) {
      if (!p.has(embed_id(id, tag))) {  // per-epoch embeds were added with their checkpoints above
        std::string after = tag == "gm" ? train_id(kRunScope, "gm") : tag == "untrained" ? "preprocess/" + id : train_id(id, tag);
        embed(p, id, tag, after);
      }
      needs.push_back(embed_id(id, tag));
    }
    p.add("evaluate/" + id, id, command_of(pipe.at(stage::evaluate), id), needs);
    all_eval.push_back("evaluate/" + id);
  }
  p.add("collect", kRunScope, command_of(pipe.at(stage::collect), kRunScope), all_eval);
  return p.take();
}

}  // namespace psmflow::eval
