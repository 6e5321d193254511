#include "psmflow/pipeline/plan.hpp"

#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "psmflow/core/error.hpp"
#include "psmflow/core/hash.hpp"

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

std::vector<StageStep> chain_of_phase(const Pipeline& pipe, int phase) {
  std::vector<StageStep> chain;
  for (const auto& name : pipe.in_phase(phase, Scope::subject)) {
    const Stage& s = pipe.at(name);
    chain.push_back({s.command.front(), s.name, {s.command.begin() + 1, s.command.end()}});
  }
  return chain;
}

const std::vector<StageStep>& subject_chain() {
  static const std::vector<StageStep> chain = chain_of_phase(standard_pipeline(), 0);
  return chain;
}

const std::vector<StageStep>& gm_chain() {
  static const std::vector<StageStep> chain = chain_of_phase(standard_pipeline(), 2);
  return chain;
}

bool stage_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::string& record) {
  auto r = m.get(subject, record);
  return r && r->status == Status::done && m.is_done(subject, record, r->input_hash, config_hash(cfg, record));
}

bool chain_done(const Manifest& m, const Config& cfg, const std::string& subject, const std::vector<StageStep>& chain) {
  for (const auto& step : chain)
    if (!stage_done(m, cfg, subject, step.record)) return false;
  return true;
}

namespace {

std::string record_sums(const Record& r) {
  std::string out = r.stage + ":";
  for (const auto& [path, sum] : r.outputs) out += " " + path + "=" + sum.sha256;
  return out + "\n";
}

std::string need_sums(const Manifest& m, const Stage& s, const std::string& need, const std::string& subject,
                      bool accept_unfinished) {
  auto r = m.get(subject, need);
  if (r && (r->status == Status::done || accept_unfinished)) return record_sums(*r);
  const fs::path output = stage_from_name(need).output(m.run(), subject);
  if (r)
    throw StageError(fmt::format("{} of {} needs the {} record of {} to be done, and it is {}{} ({}); rerun {} first, or "
                                 "pass --accept-unfinished-inputs to use {} as it is",
                                 s.name, subject, need, subject, to_string(m.effective_status(*r)),
                                 r->error.empty() ? "" : ": " + r->error, m.run().relative(output), need,
                                 output.string()));
  std::error_code ec;
  if (!fs::is_regular_file(output, ec))
    throw StageError(fmt::format("{} of {} needs {}: no record and no {}", s.name, subject, need, output.string()));
  return need + ": " + m.run().relative(output) + "=" + sha256_file(output) + "\n";
}

}  // namespace

std::string needs_hash(const Manifest& m, const Stage& s, const std::string& subject, bool accept_unfinished,
                       const std::string& also_prefix) {
  std::string text;
  for (const auto& need : s.needs) {
    if (stage_from_name(need).scope != s.scope) continue;
    if (!also_prefix.empty() && need.rfind(also_prefix, 0) == 0) continue;
    text += need_sums(m, s, need, subject, accept_unfinished);
  }
  if (!also_prefix.empty())
    for (const Record& r : m.records(subject)) {
      if (r.stage.rfind(also_prefix, 0) != 0) continue;
      if (r.status != Status::done && !accept_unfinished)
        throw StageError(fmt::format("{} of {} reads every {}* record, and {} is {}; rerun it first, or pass "
                                     "--accept-unfinished-inputs",
                                     s.name, subject, also_prefix, r.stage, to_string(m.effective_status(r))));
      text += record_sums(r);
    }
  return sha256_hex(text);
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
