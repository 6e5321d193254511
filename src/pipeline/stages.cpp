#include "psmflow/pipeline/stages.hpp"

#include <algorithm>
#include <stdexcept>

#include "psmflow/store/manifest.hpp"

namespace psmflow::pipeline {
namespace {

const std::vector<std::string> kPsmSections = {"model", "train.psm", "seed"};
const std::vector<std::string> kGmSections = {"model", "train.gm", "seed"};
const std::vector<std::string> kEvalSections = {"eval", "data", "model", "seed"};

bool is_gm_tag(const std::string& tag) { return tag == "gm"; }

}  // namespace

Stage train_stage(const std::string& tag) {
  Stage s;
  s.name = tag == "psm" ? stage::psm : "train-" + tag;
  s.needs = {stage::preprocess};
  s.command = {"train"};
  if (tag != "psm") s.command.insert(s.command.end(), {"--tag", tag});
  s.sections = kPsmSections;
  s.output = [tag](const RunDir& run, const std::string& id) {
    return (tag == "psm" ? run.psm_dir(id) : run.model_dir(id, tag)) / "final.pt";
  };
  return s;
}

Stage embed_stage(const std::string& tag) {
  Stage s;
  s.name = tag == "psm" ? stage::embed : "embed-" + tag;
  s.command = {"embed"};
  if (tag == "untrained") {
    s.needs = {stage::preprocess};
    s.command.push_back("--untrained");
  } else {
    s.needs = {stage::preprocess, is_gm_tag(tag) ? stage::gm : train_stage(tag).name};
    if (tag != "psm") s.command.insert(s.command.end(), {"--model", tag});
  }
  s.sections = is_gm_tag(tag) ? kGmSections : kPsmSections;
  s.output = [tag](const RunDir& run, const std::string& id) { return run.embeddings(id, tag); };
  return s;
}

Stage stage_from_name(const std::string& name) {
  const Pipeline& standard = standard_pipeline();
  if (standard.has(name)) return standard.at(name);
  if (name.rfind("train-", 0) == 0 && name.size() > 6) return train_stage(name.substr(6));
  if (name.rfind("embed-", 0) == 0 && name.size() > 6) return embed_stage(name.substr(6));
  throw std::invalid_argument("'" + name + "' is not a stage (known: the standard stages, train-<tag>, embed-<tag>)");
}

const Pipeline& standard_pipeline() {
  static const Pipeline pipe = [] {
    Stage preprocess;
    preprocess.name = stage::preprocess;
    preprocess.command = {"preprocess"};
    preprocess.sections = {"preprocess", "data"};
    preprocess.output = [](const RunDir& run, const std::string& id) { return run.frames(id); };

    Stage gm;
    gm.name = stage::gm;
    gm.scope = Scope::run;
    gm.needs = {stage::preprocess};
    gm.command = {"train", "--mode", "gm"};
    gm.sections = kGmSections;
    gm.output = [](const RunDir& run, const std::string&) { return run.gm_dir() / "final.pt"; };

    Stage evaluate;
    evaluate.name = stage::evaluate;
    evaluate.needs = {stage::preprocess, stage::embed, stage::embed_untrained, stage::embed_gm};
    evaluate.command = {"evaluate"};
    evaluate.sections = kEvalSections;
    evaluate.inputs = Inputs::needs;
    evaluate.output = [](const RunDir& run, const std::string& id) { return run.eval_json(id); };

    Stage collect;
    collect.name = stage::collect;
    collect.scope = Scope::run;
    collect.needs = {stage::evaluate};
    collect.command = {"collect"};
    collect.sections = kEvalSections;
    collect.inputs = Inputs::always;
    collect.output = [](const RunDir& run, const std::string&) { return run.report_dir() / "report.json"; };

    return Pipeline({preprocess, train_stage("psm"), embed_stage("psm"),
                     // The untrained network of the same preset and seed: the report's baseline.
                     embed_stage("untrained"), gm, embed_stage("gm"), evaluate, collect});
  }();
  return pipe;
}

Pipeline::Pipeline(std::vector<Stage> stages) : stages_(std::move(stages)) {
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    const Stage& s = stages_[i];
    int phase = 0;
    for (const auto& need : s.needs) {
      auto it = std::find_if(stages_.begin(), stages_.begin() + static_cast<long>(i),
                             [&](const Stage& e) { return e.name == need; });
      if (it == stages_.begin() + static_cast<long>(i))
        throw std::logic_error("stage " + s.name + " needs " + need + ", which is not declared before it");
      const std::size_t j = static_cast<std::size_t>(it - stages_.begin());
      phase = std::max(phase, phase_[j] + (it->scope != s.scope ? 1 : 0));
    }
    if (s.scope == Scope::run && s.needs.empty()) phase = 1;
    for (std::size_t j = 0; j < i; ++j)
      if (stages_[j].name == s.name) throw std::logic_error("stage " + s.name + " declared twice");
    phase_.push_back(phase);
  }
}

const Stage& Pipeline::at(const std::string& name) const {
  for (const auto& s : stages_)
    if (s.name == name) return s;
  throw std::out_of_range("no stage '" + name + "' in the pipeline");
}

bool Pipeline::has(const std::string& name) const {
  return std::any_of(stages_.begin(), stages_.end(), [&](const Stage& s) { return s.name == name; });
}

int Pipeline::phase(const std::string& name) const {
  for (std::size_t i = 0; i < stages_.size(); ++i)
    if (stages_[i].name == name) return phase_[i];
  throw std::out_of_range("no stage '" + name + "' in the pipeline");
}

int Pipeline::phases() const { return phase_.empty() ? 0 : *std::max_element(phase_.begin(), phase_.end()) + 1; }

std::vector<std::string> Pipeline::in_phase(int phase) const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < stages_.size(); ++i)
    if (phase_[i] == phase) out.push_back(stages_[i].name);
  return out;
}

std::vector<std::string> Pipeline::in_phase(int phase, Scope scope) const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < stages_.size(); ++i)
    if (phase_[i] == phase && stages_[i].scope == scope) out.push_back(stages_[i].name);
  return out;
}

std::vector<std::string> Pipeline::names(Scope scope) const {
  std::vector<std::string> out;
  for (const auto& s : stages_)
    if (s.scope == scope) out.push_back(s.name);
  return out;
}

std::string config_hash(const Config& cfg, const Stage& s) { return cfg.sections_hash(s.sections); }

std::string config_hash(const Config& cfg, const std::string& stage_name) {
  return config_hash(cfg, stage_from_name(stage_name));
}

}  // namespace psmflow::pipeline
