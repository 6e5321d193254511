#include "psmflow/store/run_lock.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/core/process.hpp"

namespace psmflow {
namespace {

using nlohmann::json;

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Ranks of one MPI job share the lock: they are one command spread over processes.
std::string lock_token() {
  if (auto t = env_or_empty("PSMFLOW_RUN_LOCK"); !t.empty()) return t;
  for (const char* var : {"PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid"})
    if (auto id = env_or_empty(var); !id.empty()) return "mpi-" + host_name() + "-" + id;
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

std::string to_text(const LockHolder& h) {
  return json{{"host", h.host},   {"pid", h.pid},     {"command", h.command},
              {"since", h.since}, {"token", h.token}, {"slurm_jobs", h.slurm_jobs}}
             .dump(1) +
         "\n";
}

LockHolder from_text(const std::string& text) {
  json j = json::parse(text);
  return {j.at("host").get<std::string>(),    j.at("pid").get<long>(),
          j.at("command").get<std::string>(), j.at("since").get<std::string>(),
          j.at("token").get<std::string>(),   j.value("slurm_jobs", std::vector<std::string>{})};
}

// link(2) fails with EEXIST if the lock is there, atomically, where O_EXCL is not safe on old NFS.
bool try_create(const fs::path& file, const LockHolder& me) {
  AtomicPath tmp(file);
  write_file_atomic(tmp.temp(), to_text(me));
  if (::link(tmp.temp().c_str(), file.c_str()) == 0) return true;
  if (errno == EEXIST) return false;
  throw std::runtime_error(fmt::format("{}: cannot create the run directory's lock ({})", file.string(),
                                       std::strerror(errno)));
}

double age_seconds(const fs::path& file) {
  std::error_code ec;
  auto t = fs::last_write_time(file, ec);
  if (ec) return 0;
  return std::chrono::duration<double>(fs::file_time_type::clock::now() - t).count();
}

// Empty when the holder may still be working.
std::string stale_reason(const LockHolder& h, const fs::path& file, const RunLock::JobsAlive& jobs_alive) {
  if (!h.slurm_jobs.empty()) {
    if (jobs_alive && !jobs_alive(h.slurm_jobs))
      return fmt::format("its Slurm jobs {} have all ended", fmt::join(h.slurm_jobs, " "));
    return "";
  }
  if (h.host == host_name()) return process_alive(h.pid) ? "" : fmt::format("process {} is gone", h.pid);
  const double age = age_seconds(file);
  if (age > RunLock::kStale.count())
    return fmt::format("no heartbeat from {} for {:.0f} s", h.host, age);
  return "";
}

std::string busy_message(const fs::path& file, const LockHolder& h) {
  std::string who = h.slurm_jobs.empty() ? fmt::format("process {} on {}", h.pid, h.host)
                                         : fmt::format("Slurm jobs {} (submitted from {})",
                                                       fmt::join(h.slurm_jobs, " "), h.host);
  return fmt::format("{} is in use by {} ({}, since {}); wait for it to finish, or if it is gone (e.g. "
                     "crashed on another node), remove {}",
                     file.parent_path().string(), who, h.command, h.since, file.string());
}

// A command killed just before this one started (kill, then rerun; a job whose rank died) may
// take a moment to be gone: a short grace before the run directory counts as busy.
bool exits_soon(long pid) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    if (!process_alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool same_text(const fs::path& file, const std::string& text) {
  try {
    return read_file(file) == text;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

std::optional<LockHolder> RunLock::read(const fs::path& run_dir) {
  const fs::path f = file(run_dir);
  std::error_code ec;
  if (!fs::exists(f, ec)) return std::nullopt;
  try {
    return from_text(read_file(f));
  } catch (const std::exception&) {
    return LockHolder{};  // damaged from outside: an empty holder, stale by every rule but the host's
  }
}

std::unique_ptr<RunLock> RunLock::acquire(const fs::path& run_dir, const std::string& command,
                                          const JobsAlive& jobs_alive) {
  const std::string token = lock_token();
  ::setenv("PSMFLOW_RUN_LOCK", token.c_str(), 1);
  fs::create_directories(run_dir);
  const fs::path f = file(run_dir);
  const LockHolder me{host_name(), static_cast<long>(::getpid()), command, now_iso8601(), token, {}};
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (try_create(f, me)) return std::unique_ptr<RunLock>(new RunLock(f, token, true));
    std::string text;
    try {
      text = read_file(f);
    } catch (const std::exception&) {
      continue;  // released in between
    }
    LockHolder holder;
    try {
      holder = from_text(text);
    } catch (const std::exception&) {
      holder.host = host_name();  // unreadable: written by no live psmflow
    }
    if (holder.token == token) return std::unique_ptr<RunLock>(new RunLock(f, token, false));
    std::string why = stale_reason(holder, f, jobs_alive);
    if (why.empty() && holder.slurm_jobs.empty() && holder.host == host_name() && exits_soon(holder.pid)) continue;
    if (why.empty()) throw RunDirBusy(busy_message(f, holder));
    spdlog::warn("{}: taking over a stale lock of {} ({}): {}", f.string(), holder.command, holder.since, why);
    // Move it aside and check it is the one judged stale, so that two takers never remove each
    // other's fresh lock.
    // The ranks of one job share a token and may all find the stale lock at once: the name set
    // aside is this process's own.
    fs::path aside = f;
    aside += std::string(kTempMarker) + std::to_string(::getpid());
    std::error_code ec;
    fs::rename(f, aside, ec);
    if (!ec && !same_text(aside, text)) ::link(aside.c_str(), f.c_str());
    fs::remove(aside, ec);
  }
  throw RunDirBusy(f.string() + ": could not take the lock (others kept taking it); try again");
}

RunLock::RunLock(fs::path file, std::string token, bool owner)
    : file_(std::move(file)), token_(std::move(token)), owner_(owner) {
  if (owner_) beat_ = std::thread([this] { heartbeat(); });
}

RunLock::~RunLock() { release(); }

void RunLock::heartbeat() {
  std::unique_lock<std::mutex> lk(mutex_);
  while (!wake_.wait_for(lk, kHeartbeat, [this] { return stop_; })) {
    std::error_code ec;
    fs::last_write_time(file_, fs::file_time_type::clock::now(), ec);
  }
}

void RunLock::stop_heartbeat() {
  {
    std::lock_guard<std::mutex> lk(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (beat_.joinable()) beat_.join();
}

void RunLock::hand_to_slurm(const std::vector<std::string>& job_ids) {
  stop_heartbeat();
  LockHolder h = from_text(read_file(file_));
  if (h.token != token_) return;
  // Jobs of earlier rounds of the submission may still run beside the new ones.
  for (const auto& id : job_ids)
    if (std::find(h.slurm_jobs.begin(), h.slurm_jobs.end(), id) == h.slurm_jobs.end()) h.slurm_jobs.push_back(id);
  write_file_atomic(file_, to_text(h));
  owner_ = false;  // the jobs hold it now; it is free once they have all ended
}

void RunLock::release() {
  stop_heartbeat();
  if (!owner_) return;
  owner_ = false;
  std::error_code ec;
  try {
    if (from_text(read_file(file_)).token != token_) return;  // taken over meanwhile
  } catch (const std::exception&) {
    return;
  }
  fs::remove(file_, ec);
}

}  // namespace psmflow
