#include "validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <set>

#include "psmflow/core/error.hpp"
#include "psmflow/core/ids.hpp"

namespace psmflow::config_detail {
namespace {

class Checker {
 public:
  Checker(const Config& cfg, const KeyLines& lines) : cfg_(cfg), lines_(lines) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why, int line = 0) const {
    if (line == 0) {
      auto it = lines_.find(key);
      line = it == lines_.end() ? 0 : it->second;
    }
    std::string where = cfg_.file.string() + (line > 0 ? ":" + std::to_string(line) : "");
    throw UsageError(fmt::format("{}: key '{}': {}", where, key, why));
  }
  void require(bool ok, const std::string& key, const std::string& why) const {
    if (!ok) fail(key, why);
  }
  void one_of(const std::string& v, std::initializer_list<const char*> allowed, const std::string& key) const {
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    fail(key, "'" + v + "' is not one of: " + list);
  }
  void file_exists(const fs::path& p, const std::string& key, bool check, int line = 0) const {
    if (check && !p.empty() && !fs::exists(p)) fail(key, "no such file or folder: " + p.string(), line);
  }

 private:
  const Config& cfg_;
  const KeyLines& lines_;
};

void check_run(const Checker& c, const RunSection& r) {
  c.require(!r.run_dir.empty(), "run.run_dir", "must not be empty");
  c.require(r.threads >= 0, "run.threads", "must be >= 0 (0 = all allotted cores)");
  c.one_of(r.device, {"auto", "cpu", "cuda"}, "run.device");
}

void check_aus(const Checker& c, const std::vector<int>& aus, const std::string& key) {
  c.require(!aus.empty(), key, "must list at least one AU");
  std::set<int> seen;
  for (int au : aus) {
    c.require(au >= 1 && au <= 64, key, fmt::format("AU {} is outside 1..64", au));
    c.require(seen.insert(au).second, key, fmt::format("AU {} is listed twice", au));
  }
}

void check_data(const Checker& c, const DataSection& d, bool check_files, bool require_subjects) {
  c.one_of(d.label_format, {"disfa", "csv"}, "data.label_format");
  c.require(d.label_frame_base == 0 || d.label_frame_base == 1, "data.label_frame_base", "must be 0 or 1");
  check_aus(c, d.aus, "data.aus");
  c.require(!require_subjects || !d.subjects.empty(), "data", "no subjects: add [[data.subject]] tables or data.ids with data.input");
  std::map<std::string, int> first_line;
  for (const auto& s : d.subjects) {
    std::string why = unsafe_id_reason(s.id);
    if (!why.empty()) c.fail("data.subject.id", "subject id '" + s.id + "' is not a safe path component: " + why, s.line);
    auto [it, fresh] = first_line.emplace(s.id, s.line);
    if (!fresh)
      c.fail("data.subject.id", fmt::format("duplicate subject id '{}' (first declared on line {})", s.id, it->second), s.line);
    c.file_exists(s.input, "data.subject.input", check_files, s.line);
    c.file_exists(s.labels, "data.subject.labels", check_files, s.line);
    c.file_exists(s.truth, "data.subject.truth", check_files, s.line);
  }
}

void check_preprocess(const Checker& c, const PreprocessSection& p, bool check_files) {
  c.one_of(p.detector, {"haar", "lbp", "dnn", "dlib"}, "preprocess.detector");
  c.require(p.detector != "dnn" || !p.dnn_model.empty(), "preprocess.dnn_model", "detector = \"dnn\" needs a model file");
  c.file_exists(p.dnn_model, "preprocess.dnn_model", check_files);
  c.file_exists(p.cascade, "preprocess.cascade", check_files);
  c.file_exists(p.eye_cascade, "preprocess.eye_cascade", check_files);
  c.file_exists(p.landmark_model, "preprocess.landmark_model", check_files);
  c.require(p.min_confidence >= 0 && p.min_confidence <= 1, "preprocess.min_confidence", "must be within 0..1");
  c.require(p.detect_every >= 1, "preprocess.detect_every", "must be >= 1");
  c.require(p.detect_width >= 64, "preprocess.detect_width", "must be >= 64 pixels");
  c.require(p.margin >= 0 && p.margin <= 2, "preprocess.margin", "must be within 0..2");
  c.require(p.crop_size >= 16 && p.crop_size <= 1024, "preprocess.crop_size", "must be within 16..1024");
  c.require(p.frame_stride >= 1, "preprocess.frame_stride", "must be >= 1");
  c.require(p.frame_start >= 0, "preprocess.frame_start", "must be >= 0");
  c.require(p.frame_end == -1 || p.frame_end > p.frame_start, "preprocess.frame_end", "must be -1 or > frame_start");
  c.require(p.contact_sheet_tiles >= 1, "preprocess.contact_sheet_tiles", "must be >= 1");
}

void check_model(const Checker& c, const ModelSection& m, bool check_files) {
  c.one_of(m.preset, {"paper", "small", "tiny"}, "model.preset");
  c.one_of(m.embedding, {"code", "feature"}, "model.embedding");
  c.file_exists(m.vgg_weights, "model.vgg_weights", check_files);
}

void check_train(const Checker& c, const TrainSection& t, const std::string& name, bool check_files) {
  auto key = [&](const char* k) { return name + "." + k; };
  if (name == "train.psm") c.one_of(t.mode, {"psm", "psm-ctl"}, key("mode"));
  else c.one_of(t.mode, {"gm", "gm-ctl"}, key("mode"));
  c.require(t.epochs >= 1, key("epochs"), fmt::format("must be >= 1 (got {})", t.epochs));
  c.require(t.batch >= 1, key("batch"), fmt::format("must be >= 1 (got {})", t.batch));
  c.require(!t.lr_epochs.empty() && t.lr_epochs.size() == t.lr_values.size(), key("lr_values"),
            "lr_epochs and lr_values must have the same, non-zero length");
  c.require(t.lr_epochs.front() == 1, key("lr_epochs"), "must start at epoch 1");
  c.require(std::is_sorted(t.lr_epochs.begin(), t.lr_epochs.end()) &&
                std::adjacent_find(t.lr_epochs.begin(), t.lr_epochs.end()) == t.lr_epochs.end(),
            key("lr_epochs"), "must be strictly increasing");
  for (double lr : t.lr_values) c.require(lr > 0 && lr < 1, key("lr_values"), fmt::format("{} is not within (0, 1)", lr));
  c.require(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1, key("beta1"), "Adam betas must be within [0, 1)");
  c.require(t.neutral_weight.size() == 1 || t.neutral_weight.size() == 2, key("neutral_weight"),
            "one value (constant) or two (linear ramp from..to)");
  c.require(t.checkpoint_every >= 1, key("checkpoint_every"), "must be >= 1");
  c.require(t.sample_every >= 0, key("sample_every"), "must be >= 0 (0 = no sample images)");
  c.one_of(t.precision, {"fp32", "bf16"}, key("precision"));
  c.file_exists(t.init, key("init"), check_files);
}

void check_eval(const Checker& c, const EvalSection& e) {
  c.require(e.present_threshold > 0 && e.present_threshold <= 5, "eval.present_threshold", "must be within (0, 5]");
  c.require(e.active_fraction >= 0 && e.active_fraction < 1, "eval.active_fraction", "must be within [0, 1)");
  c.one_of(e.classifier, {"logreg", "svm"}, "eval.classifier");
  c.require(e.c > 0, "eval.c", "must be > 0");
  c.require(e.folds >= 2, "eval.folds", "must be >= 2");
  c.require(e.bootstraps >= 1, "eval.bootstraps", "must be >= 1");
  c.require(e.pca_components >= 1, "eval.pca_components", "must be >= 1");
  c.require(!e.dbscan_eps.empty(), "eval.dbscan_eps", "must not be empty");
  for (double x : e.dbscan_eps) c.require(x > 0, "eval.dbscan_eps", "every eps must be > 0");
  c.require(!e.dbscan_min_samples.empty(), "eval.dbscan_min_samples", "must not be empty");
  for (int x : e.dbscan_min_samples) c.require(x >= 1, "eval.dbscan_min_samples", "every value must be >= 1");
  c.require(e.chosen_eps > 0, "eval.chosen_eps", "must be > 0");
  c.require(e.chosen_min_samples >= 1, "eval.chosen_min_samples", "must be >= 1");
  c.require(e.novel_threshold > 0 && e.novel_threshold <= 1, "eval.novel_threshold", "must be within (0, 1]");
  check_aus(c, e.person_independent_aus, "eval.person_independent_aus");
}

// Values that end up inside sbatch scripts are restricted so that they cannot carry shell.
void check_slurm(const Checker& c, const SlurmSection& s, bool check_files) {
  static const std::regex word("[A-Za-z0-9_.,-]*");
  static const std::regex mem("[0-9]+[KMGT]?");
  static const std::regex time("([0-9]+-)?[0-9]{1,3}(:[0-9]{2}){0,2}");
  static const std::regex sbatch_opt("--[a-z][a-z-]*(=[A-Za-z0-9_.,:=/@%+-]+)?");
  for (auto [v, k] : {std::pair{&s.partition, "slurm.partition"}, {&s.account, "slurm.account"}, {&s.qos, "slurm.qos"}})
    c.require(std::regex_match(*v, word), k, "may contain only letters, digits and . , _ -");
  c.require(s.subjects_per_task >= 1, "slurm.subjects_per_task", "must be >= 1");
  c.require(s.throttle >= 0, "slurm.throttle", "must be >= 0 (0 = no limit)");
  c.require(s.cpus_per_task >= 1, "slurm.cpus_per_task", "must be >= 1");
  c.require(std::regex_match(s.mem, mem), "slurm.mem", "must look like 8G, 16000M or 4096");
  for (auto [v, k] : {std::pair{&s.time, "slurm.time"}, {&s.gm_time, "slurm.gm_time"}, {&s.collect_time, "slurm.collect_time"}})
    c.require(std::regex_match(*v, time), k, "must be a Slurm time such as 04:00:00 or 1-12:00:00");
  c.require(s.gpus_per_task >= 0 && s.gm_gpus_per_node >= 0, "slurm.gpus_per_task", "GPU counts must be >= 0");
  c.require(s.gm_nodes >= 1 && s.gm_ranks_per_node >= 1, "slurm.gm_nodes", "GM nodes and ranks per node must be >= 1");
  c.require(s.signal_lead_s >= 0, "slurm.signal_lead_s", "must be >= 0");
  c.require(s.max_requeues >= 0, "slurm.max_requeues", "must be >= 0");
  c.require(s.max_array_size >= 0, "slurm.max_array_size", "must be >= 0 (0 = ask the cluster)");
  for (const auto& o : s.extra_sbatch)
    c.require(std::regex_match(o, sbatch_opt), "slurm.extra_sbatch", "'" + o + "' is not a plain --option[=value]");
  c.file_exists(s.templates, "slurm.templates", check_files);
  c.file_exists(s.psmflow_bin, "slurm.psmflow_bin", check_files);
}

}  // namespace

void validate(const Config& cfg, const KeyLines& lines, bool check_files, bool require_subjects) {
  Checker c(cfg, lines);
  check_run(c, cfg.run);
  check_data(c, cfg.data, check_files, require_subjects);
  check_preprocess(c, cfg.preprocess, check_files);
  check_model(c, cfg.model, check_files);
  check_train(c, cfg.psm, "train.psm", check_files);
  check_train(c, cfg.gm, "train.gm", check_files);
  check_eval(c, cfg.eval);
  check_slurm(c, cfg.slurm, check_files);
}

}  // namespace psmflow::config_detail
