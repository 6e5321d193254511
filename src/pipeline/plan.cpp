#include "psmflow/pipeline/plan.hpp"

#include <algorithm>
#include <regex>

#include "psmflow/core/error.hpp"

namespace psmflow::pipeline {

Shard parse_shard(const std::string& text) {
  static const std::regex pattern(R"((\d{1,6})/(\d{1,6}))");
  std::smatch m;
  if (!std::regex_match(text, m, pattern))
    throw UsageError("--shard '" + text + "': expected i/N with 0 <= i < N, e.g. 0/4");
  Shard s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.count < 1 || s.index >= s.count)
    throw UsageError("--shard '" + text + "': expected i/N with 0 <= i < N, e.g. 0/4");
  return s;
}

std::vector<std::string> shard_subjects(std::vector<std::string> ids, const Shard& shard) {
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> out;
  for (std::size_t p = 0; p < ids.size(); ++p)
    if (static_cast<int>(p % shard.count) == shard.index) out.push_back(ids[p]);
  return out;
}

const std::vector<StageStep>& subject_chain() {
  static const std::vector<StageStep> chain = {
      {"preprocess", stage::preprocess, {}},
      {"train", stage::psm, {}},
      {"embed", stage::embed, {}},
      // The untrained network of the same preset and seed: the baseline the report sets beside the PSM.
      {"embed", "embed-untrained", {"--untrained"}}};
  return chain;
}

const std::vector<StageStep>& gm_chain() {
  static const std::vector<StageStep> chain = {{"embed", stage::embed_gm, {"--model", "gm"}},
                                               {"evaluate", stage::evaluate, {}}};
  return chain;
}

bool stage_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::string& record) {
  auto r = m.get(subject, record);
  return r && r->status == Status::done && m.is_done(subject, record, r->input_hash, cfg.stage_hash(record));
}

bool chain_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::vector<StageStep>& chain) {
  for (const auto& step : chain)
    if (!stage_done(m, cfg, subject, step.record)) return false;
  return true;
}

std::uint64_t input_bytes(const SubjectSpec& s) {
  std::error_code ec;
  if (fs::is_regular_file(s.input, ec)) return fs::file_size(s.input, ec);
  std::uint64_t total = 0;
  if (fs::is_directory(s.input, ec))
    for (const auto& e : fs::directory_iterator(s.input, ec))
      if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

std::vector<QueueItem> build_queue(const Manifest& m, const Config& cfg, const std::vector<std::string>& subjects,
                                   const std::vector<StageStep>& chain) {
  std::vector<QueueItem> queue;
  for (const auto& id : subjects) {
    if (chain_done(m, cfg, id, chain)) continue;
    const SubjectSpec* spec = cfg.find_subject(id);
    queue.push_back({id, spec ? input_bytes(*spec) : 0});
  }
  std::stable_sort(queue.begin(), queue.end(), [](const QueueItem& a, const QueueItem& b) {
    return a.input_bytes != b.input_bytes ? a.input_bytes > b.input_bytes : a.subject < b.subject;
  });
  return queue;
}

}  // namespace psmflow::pipeline
