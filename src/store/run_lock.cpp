#include "psmflow/store/run_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

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

// The processes of one command share the lock. Open MPI's job id is the same on every node of an
// mpirun (it already hashes mpirun's host and pid): a host in the token would split the job. In a
// Slurm job its id is added, since two mpiruns' ids may collide (a 16-bit hash), but not the step:
// the ranks on the batch node have none, those under the daemons srun started have one. Tasks
// that srun starts without MPI variables (pmi2) share their step; the batch step has no step id.
std::string lock_token() {
  if (auto t = env_or_empty("PSMFLOW_RUN_LOCK"); !t.empty()) return t;
  const std::string slurm_job = env_or_empty("SLURM_JOB_ID");
  for (const char* var : {"PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid"})
    if (auto id = env_or_empty(var); !id.empty()) return "mpi-" + id + (slurm_job.empty() ? "" : "@slurm-" + slurm_job);
  if (auto step = env_or_empty("SLURM_STEP_ID"); !slurm_job.empty() && !step.empty())
    return "slurm-" + slurm_job + "." + step;
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

LockHolder holder_of(const std::string& text, const std::string& host) {
  try {
    return from_text(text);
  } catch (const std::exception&) {
    LockHolder unreadable;
    unreadable.host = host;  // written by no live psmflow: stale by the pid rule
    return unreadable;
  }
}

// A descriptor of the lock file, closed at scope end unless a RunLock takes it.
class OpenFile {
 public:
  explicit OpenFile(int fd = -1) : fd_(fd) {}
  OpenFile(OpenFile&& other) noexcept : fd_(other.release()) {}
  ~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool valid() const { return fd_ >= 0; }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Read-write where allowed: NFS emulates flock with byte-range locks, and an exclusive one needs
// a file open for writing.
OpenFile open_lock(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  return OpenFile(fd);
}

// Where flock is not supported, only the pid rule protects the sharers.
void hold_shared(const OpenFile& fd) {
  while (::flock(fd.get(), LOCK_SH) != 0 && errno == EINTR) {
  }
}

bool same_file(const OpenFile& fd, const fs::path& path) {
  struct stat open_one {};
  struct stat named_one {};
  return ::fstat(fd.get(), &open_one) == 0 && ::stat(path.c_str(), &named_one) == 0 &&
         open_one.st_dev == named_one.st_dev && open_one.st_ino == named_one.st_ino;
}

// The text of the lock that fd holds open; nullopt if it was released or replaced in between.
std::optional<std::string> read_lock(const OpenFile& fd, const fs::path& file) {
  if (!fd.valid()) return std::nullopt;
  try {
    std::string text = read_file(file);
    if (same_file(fd, file)) return text;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// link(2) fails with EEXIST if the lock is there, atomically, where O_EXCL is not safe on old NFS.
// The file is held shared before it is linked, so that it never stands without its owner's flock.
OpenFile try_create(const fs::path& file, const LockHolder& me) {
  AtomicPath tmp(file);
  write_file_atomic(tmp.temp(), to_text(me));
  OpenFile fd = open_lock(tmp.temp());
  if (!fd.valid())
    throw std::runtime_error(tmp.temp().string() + ": cannot open for the lock: " + std::strerror(errno));
  hold_shared(fd);
  if (::link(tmp.temp().c_str(), file.c_str()) == 0) return fd;
  if (errno == EEXIST) return OpenFile();
  throw std::runtime_error(fmt::format("{}: cannot create the run directory's lock ({})", file.string(),
                                       std::strerror(errno)));
}

// The run root's own files (config.toml, provenance.json, this lock) and those of slurm/
// (jobs.json, the scripts); each stage sweeps its own folders.
void remove_stale_temps_of_root(const fs::path& run_dir) {
  for (const auto& dir : {run_dir, run_dir / "slurm"})
    if (std::size_t n = remove_stale_temps_in(dir))
      spdlog::info("{}: removed {} temporary file(s) left by dead writers", dir.string(), n);
}

double age_seconds(const fs::path& file) {
  std::error_code ec;
  auto t = fs::last_write_time(file, ec);
  if (ec) return 0;
  return std::chrono::duration<double>(fs::file_time_type::clock::now() - t).count();
}

// Empty when the holder may still be working.
std::string stale_reason(const LockHolder& h, const fs::path& file, const RunLock::JobsAlive& jobs_alive,
                         const std::string& host) {
  if (!h.slurm_jobs.empty()) {
    if (jobs_alive && !jobs_alive(h.slurm_jobs))
      return fmt::format("its Slurm jobs {} have all ended", fmt::join(h.slurm_jobs, " "));
    return "";
  }
  if (h.host == host) return process_alive(h.pid) ? "" : fmt::format("process {} is gone", h.pid);
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

std::string sharers_message(const fs::path& file, const LockHolder& h) {
  return fmt::format(
      "{} is in use: its lock's holder, process {} on {} ({}, since {}), is gone, but processes that share its "
      "lock (stage processes it started, which stop at their next checkpoint, or other ranks of its job) still "
      "run; wait for them to exit, or stop them (`fuser -v {}` lists them), and try again",
      file.parent_path().string(), h.pid, h.host, h.command, h.since, file.string());
}

// A command killed just before this one started (kill, then rerun; a job whose rank died) may
// take a moment to be gone, its stage processes too: a short grace before it counts as busy.
bool soon(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Exclusive, and held through the takeover, once no process holds the lock shared. Other takers
// hold it exclusive only for a moment; where flock fails otherwise, only the pid rule counts.
bool sharers_gone(const OpenFile& fd) {
  return soon([&] { return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK; });
}

bool same_text(const fs::path& file, const std::string& text) {
  try {
    return read_file(file) == text;
  } catch (const std::exception&) {
    return false;
  }
}

// Moves the lock aside and checks it is the one judged stale, so that two takers never remove
// each other's fresh lock. The ranks of one job share a token and may all find the stale lock at
// once: the name set aside is this process's own (and a dead taker's is swept as a temporary).
void take_over(const fs::path& file, const std::string& text) {
  AtomicPath aside(file);  // removed at the end
  std::error_code ec;
  fs::rename(file, aside.temp(), ec);
  if (!ec && !same_text(aside.temp(), text)) ::link(aside.temp().c_str(), file.c_str());
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
                                          const JobsAlive& jobs_alive, const std::string& host,
                                          std::chrono::milliseconds heartbeat) {
  const std::string token = lock_token();
  ::setenv("PSMFLOW_RUN_LOCK", token.c_str(), 1);
  fs::create_directories(run_dir);
  const fs::path f = file(run_dir);
  const LockHolder me{host, static_cast<long>(::getpid()), command, now_iso8601(), token, {}};
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (OpenFile mine = try_create(f, me); mine.valid()) {
      remove_stale_temps_of_root(run_dir);
      return std::unique_ptr<RunLock>(new RunLock(f, token, mine.release(), true, heartbeat));
    }
    OpenFile fd = open_lock(f);
    const std::optional<std::string> text = read_lock(fd, f);
    if (!text) continue;  // released or replaced in between
    const LockHolder holder = holder_of(*text, host);
    if (holder.token == token) {
      hold_shared(fd);
      if (same_file(fd, f)) return std::unique_ptr<RunLock>(new RunLock(f, token, fd.release(), false, heartbeat));
      continue;  // taken over while this process waited for its flock
    }
    const bool here = holder.slurm_jobs.empty() && holder.host == host;
    const std::string why = stale_reason(holder, f, jobs_alive, host);
    if (why.empty() && here && soon([&] { return !process_alive(holder.pid); })) continue;
    if (why.empty()) throw RunDirBusy(busy_message(f, holder));
    if (here && !sharers_gone(fd)) throw RunDirBusy(sharers_message(f, holder));
    if (here && !same_file(fd, f)) continue;  // another taker was first
    spdlog::warn("{}: taking over a stale lock of {} ({}): {}", f.string(), holder.command, holder.since, why);
    take_over(f, *text);
  }
  throw RunDirBusy(f.string() + ": could not take the lock (others kept taking it); try again");
}

RunLock::RunLock(fs::path file, std::string token, int shared_fd, bool owner, std::chrono::milliseconds beat_every)
    : file_(std::move(file)), token_(std::move(token)), shared_fd_(shared_fd), owner_(owner), heartbeat_(beat_every) {
  if (owner_) beat_ = std::thread([this] { heartbeat(); });
}

RunLock::~RunLock() { release(); }

void RunLock::heartbeat() {
  std::unique_lock<std::mutex> lk(mutex_);
  while (!wake_.wait_for(lk, heartbeat_, [this] { return stop_; })) {
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
  OpenFile shared(std::exchange(shared_fd_, -1));  // its flock ends as this function returns
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
