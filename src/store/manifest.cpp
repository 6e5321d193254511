#include "psmflow/store/manifest.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/core/ids.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/process.hpp"

namespace psmflow {
namespace {

using nlohmann::json;

const char* kStatusNames[] = {"pending", "running", "done", "failed", "interrupted"};

json to_json(const Record& r) {
  json outputs = json::object();
  for (const auto& [path, sum] : r.outputs) outputs[path] = {{"sha256", sum.sha256}, {"size", sum.size}, {"mtime_ns", sum.mtime_ns}};
  return {{"subject", r.subject}, {"stage", r.stage},       {"status", to_string(r.status)},
          {"started", r.started}, {"finished", r.finished}, {"seconds", r.seconds},
          {"host", r.host},       {"pid", r.pid},           {"attempt", r.attempt},
          {"error", r.error},     {"input_hash", r.input_hash}, {"config_hash", r.config_hash},
          {"outputs", outputs},   {"details", r.details},   {"psmflow_version", PSMFLOW_VERSION}};
}

// A count or id of a record, refused unless it is a whole number that fits T: a record damaged
// from outside may hold 1e300 there, which nlohmann would convert with undefined behaviour.
template <class T>
T whole_number(const json& j, const char* key, T fallback) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  if (v.is_number_unsigned() && v.get<std::uint64_t>() <= max) return static_cast<T>(v.get<std::uint64_t>());
  // nlohmann keeps non-negative integers unsigned: a signed one here is negative.
  if (v.is_number_integer() && !v.is_number_unsigned() && std::is_signed_v<T> &&
      v.get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()))
    return static_cast<T>(v.get<std::int64_t>());
  throw std::runtime_error(std::string("'") + key + "' is not a whole number in range: " + v.dump());
}

Record from_json(const json& j) {
  Record r;
  r.subject = j.at("subject");
  r.stage = j.at("stage");
  r.status = status_from_string(j.at("status"));
  r.started = j.value("started", "");
  r.finished = j.value("finished", "");
  r.seconds = j.value("seconds", 0.0);
  r.host = j.value("host", "");
  r.pid = whole_number(j, "pid", 0L);
  r.attempt = whole_number(j, "attempt", 0);
  r.error = j.value("error", "");
  r.input_hash = j.value("input_hash", "");
  r.config_hash = j.value("config_hash", "");
  const json outputs = j.value("outputs", json::object());
  for (const auto& [path, sum] : outputs.items()) r.outputs[path] = {sum.at("sha256"), whole_number(sum, "size", 0ULL), whole_number(sum, "mtime_ns", 0LL)};
  r.details = j.value("details", std::map<std::string, std::string>{});
  return r;
}

void check_scope(const std::string& subject, const std::string& stage) {
  if (subject != kRunScope && !is_safe_id(subject))
    throw UsageError("subject id '" + subject + "': " + unsafe_id_reason(subject));
  if (!is_safe_id(stage)) throw UsageError("stage name '" + stage + "': " + unsafe_id_reason(stage));
}

}  // namespace

std::string to_string(Status s) { return kStatusNames[static_cast<int>(s)]; }

Status status_from_string(const std::string& s) {
  for (int i = 0; i < 5; ++i)
    if (s == kStatusNames[i]) return static_cast<Status>(i);
  throw std::runtime_error("unknown status '" + s + "'");
}

Manifest::Manifest(RunDir run) : run_(std::move(run)) {}

fs::path Manifest::record_path(const std::string& subject, const std::string& stage) const {
  check_scope(subject, stage);
  return run_.manifest_dir() / subject / (stage + ".json");
}

std::optional<Record> Manifest::get(const std::string& subject, const std::string& stage) const {
  fs::path p = record_path(subject, stage);
  if (!fs::exists(p)) return std::nullopt;
  try {
    return from_json(json::parse(read_file(p)));
  } catch (const std::exception& e) {
    // Records are renamed into place whole, so this is outside damage: treat as not done.
    spdlog::warn("manifest record {} is unreadable ({}); treating it as not done", p.string(), e.what());
    return std::nullopt;
  }
}

namespace {

// Records are padded with spaces (still JSON) to one filesystem block, which a small file takes
// anyway, so that a failure can still be recorded over it when the disk is full (finish_failed).
constexpr std::size_t kRecordBytes = 4096;
// An error shortened to fit a record written in place keeps this much of its start.
constexpr std::size_t kInPlaceError = 2048;

std::string record_text(const Record& r) {
  std::string text = to_json(r).dump(2);
  if (text.size() + 1 < kRecordBytes) text.resize(kRecordBytes - 1, ' ');
  return text + "\n";
}

}  // namespace

void Manifest::put(const Record& r) { write_file_atomic(record_path(r.subject, r.stage), record_text(r)); }

std::vector<Record> Manifest::records(const std::string& subject) const {
  std::vector<Record> out;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(run_.manifest_dir() / subject, ec)) {
    if (f.path().extension() != ".json" || is_temp_name(f.path())) continue;
    if (auto r = get(subject, f.path().stem().string())) out.push_back(*r);
  }
  std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.stage < b.stage; });
  return out;
}

std::vector<std::string> Manifest::subjects() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(run_.manifest_dir(), ec))
    if (dir.is_directory(ec) && dir.path().filename() != kRunScope) out.push_back(dir.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Record> Manifest::all() const {
  std::vector<Record> out;
  std::vector<std::string> ids = subjects();
  ids.push_back(kRunScope);
  std::sort(ids.begin(), ids.end());
  for (const auto& subject : ids)
    for (auto& r : records(subject)) out.push_back(std::move(r));
  return out;
}

namespace {

long long mtime_ns(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return 0;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

bool output_intact(const fs::path& p, const OutputSum& sum, bool verify) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec) || fs::file_size(p, ec) != sum.size) return false;
  if (!verify && sum.mtime_ns != 0 && mtime_ns(p) == sum.mtime_ns) return true;
  return sha256_file(p) == sum.sha256;
}

}  // namespace

Status Manifest::effective_status(const Record& r) const {
  if (r.status == Status::running && r.host == host_name() && !process_alive(r.pid)) return Status::interrupted;
  return r.status;
}

bool Manifest::is_done(const std::string& subject, const std::string& stage, const std::string& input_hash,
                       const std::string& config_hash, bool verify) const {
  auto r = get(subject, stage);
  if (!r || r->status != Status::done || r->input_hash != input_hash || r->config_hash != config_hash) return false;
  for (const auto& [rel, sum] : r->outputs)
    if (!output_intact(run_.root() / rel, sum, verify)) return false;
  return true;
}

Record Manifest::begin(const std::string& subject, const std::string& stage, const std::string& input_hash,
                       const std::string& config_hash) {
  Record r;
  auto prev = get(subject, stage);
  r.subject = subject;
  r.stage = stage;
  r.status = Status::running;
  r.started = now_iso8601();
  r.host = host_name();
  r.pid = ::getpid();
  r.attempt = prev ? prev->attempt + 1 : 1;
  r.input_hash = input_hash;
  r.config_hash = config_hash;
  put(r);
  return r;
}

namespace {
double seconds_since(const std::string& iso) {
  std::tm tm{};
  if (!strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return std::difftime(std::time(nullptr), timegm(&tm));
}
}  // namespace

void Manifest::finish_done(Record& r, const std::vector<fs::path>& outputs, std::map<std::string, std::string> details) {
  r.outputs.clear();
  for (const auto& p : outputs) {
    if (!fs::is_regular_file(p)) throw std::runtime_error("stage " + r.stage + " did not produce " + p.string());
    r.outputs[run_.relative(p)] = {sha256_file(p), static_cast<unsigned long long>(fs::file_size(p)), mtime_ns(p)};
  }
  r.details = std::move(details);
  r.status = Status::done;
  r.error.clear();
  r.finished = now_iso8601();
  r.seconds = seconds_since(r.started);
  put(r);
}

void Manifest::finish_failed(Record& r, const std::string& error, Status status) {
  r.status = status;
  r.error = error;
  r.finished = now_iso8601();
  r.seconds = seconds_since(r.started);
  try {
    put(r);
  } catch (const std::exception& e) {
    // Most often the disk or quota that failed the stage: without this the record would stay
    // "running" and `status` could not say why the stage stopped.
    Record last = r;
    if (last.error.size() > kInPlaceError) last.error = last.error.substr(0, kInPlaceError) + " ...";
    try {
      overwrite_in_place(record_path(r.subject, r.stage), record_text(last));
    } catch (const std::exception&) {
      throw std::runtime_error(std::string(e.what()) + " (recording that " + r.subject + " " + r.stage + " " +
                               to_string(status) + ": " + error + ")");
    }
    spdlog::warn("{} {}: recorded as {} in place of its running record ({})", r.subject, r.stage, to_string(status),
                 e.what());
  }
}

namespace {

// A stage's start removes what killed or aborted writers left in its folders (issue 16 defect 7).
void remove_stale_temps_of(const RunDir& run, const std::string& subject) {
  std::vector<fs::path> dirs = {run.manifest_dir() / subject};
  if (subject == kRunScope) {
    dirs.push_back(run.gm_dir());
    dirs.push_back(run.report_dir());
  } else {
    dirs.push_back(run.subject_dir(subject));
  }
  for (const auto& dir : dirs)
    if (std::size_t n = remove_stale_temps(dir))
      spdlog::info("{}: removed {} temporary file(s) left by dead writers", dir.string(), n);
}

}  // namespace

StageOutcome run_stage(Manifest& m, const std::string& subject, const std::string& stage, const std::string& input_hash,
                       const std::string& config_hash, const std::function<StageResult()>& work, bool force) {
  if (!force && m.is_done(subject, stage, input_hash, config_hash)) {
    spdlog::info("{} {}: already done, skipped", subject, stage);
    return StageOutcome::skipped;
  }
  Record r = m.begin(subject, stage, input_hash, config_hash);
  remove_stale_temps_of(m.run(), subject);
  auto t0 = std::chrono::steady_clock::now();
  try {
    StageResult res = work();
    m.finish_done(r, res.outputs, std::move(res.details));
  } catch (const UsageError& e) {
    m.finish_failed(r, e.what());
    throw;
  } catch (const StageInterrupted& e) {
    spdlog::warn("{} {}: {}", subject, stage, e.what());
    m.finish_failed(r, e.what(), Status::interrupted);
    return StageOutcome::failed;
  } catch (const std::exception& e) {
    spdlog::error("{} {}: failed: {}", subject, stage, e.what());
    m.finish_failed(r, e.what());
    return StageOutcome::failed;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.seconds = secs;
  m.put(r);
  spdlog::info("{} {}: done in {:.1f} s", subject, stage, secs);
  return StageOutcome::done;
}

}  // namespace psmflow
