// One writer per run directory (issue 16), as Snakemake's .snakemake/locks: every command that
// writes a run directory holds RUN_DIR/run.lock; read-only commands (status) never take it.
//
// The lock file is created with link(2), which is atomic on local file systems and on NFS, and
// holds JSON: host, pid, command, since, a token, and the Slurm jobs it was handed to. Processes
// that present the same token share it: the ranks of one job on all its nodes (the MPI job's id,
// or the Slurm step's for tasks that srun starts without one), the stage processes a `psmflow run`
// starts, and the jobs of one Slurm submission (PSMFLOW_RUN_LOCK, set by the batch scripts).
// While held, the owner touches the file every kHeartbeat, and every process that shares it, the
// owner too, holds flock(LOCK_SH) on it for as long as it runs.
//
// A lock is stale, and taken over with a warning, when its holder is a process of this host that
// is gone and no process holds the lock shared any more (a killed `psmflow run`'s stage processes
// run on until their next checkpoint), when it was written on another host and its heartbeat is
// older than kStale (no shared clock is assumed beyond that margin), or when it was handed to
// Slurm and none of its jobs is still queued or running.
//
// flock is relied on only among the processes of one host, where it is exact. On NFS, Linux
// emulates it with byte-range locks kept by the server unless the mount has local_lock=flock (or
// all): then the sharers on other hosts count as well, and a crashed node's lock may linger until
// the server drops it (remove run.lock then). Holders on other hosts are judged by the heartbeat.
#pragma once
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "psmflow/core/error.hpp"
#include "psmflow/core/log.hpp"

namespace psmflow {
namespace fs = std::filesystem;

// The run directory is in use by someone else: exit 2, nothing was written.
struct RunDirBusy : UsageError {
  using UsageError::UsageError;
};

struct LockHolder {
  std::string host;
  long pid = 0;
  std::string command;
  std::string since;  // ISO 8601 UTC
  std::string token;
  std::vector<std::string> slurm_jobs;
};

class RunLock {
 public:
  static constexpr std::chrono::seconds kHeartbeat{30};
  static constexpr std::chrono::seconds kStale{300};
  // Answers whether any of these Slurm jobs is still queued or running (false if unknown jobs).
  using JobsAlive = std::function<bool(const std::vector<std::string>& job_ids)>;

  // Takes or shares the lock of run_dir, or throws RunDirBusy naming the holder. The token is
  // PSMFLOW_RUN_LOCK, else the MPI job's id, else the Slurm step's, else new; it is exported to
  // PSMFLOW_RUN_LOCK so that child processes share the lock. `host` is this host as the lock
  // records it and judges holders by (tests stand in for the ranks on other nodes); `heartbeat`
  // how often an owner touches the lock (tests shorten it).
  static std::unique_ptr<RunLock> acquire(const fs::path& run_dir, const std::string& command,
                                          const JobsAlive& jobs_alive = {}, const std::string& host = host_name(),
                                          std::chrono::milliseconds heartbeat = kHeartbeat);
  ~RunLock();  // releases an owned lock that was not handed to Slurm, and its flock
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  const std::string& token() const { return token_; }
  bool owner() const { return owner_; }
  // The Slurm jobs of a submission keep the lock after this process exits. None of them releases
  // it (a collector that did could free it while the jobs of a later `resume` round still run):
  // it turns stale once squeue shows none of them queued or running.
  void hand_to_slurm(const std::vector<std::string>& job_ids);
  void release();

  static fs::path file(const fs::path& run_dir) { return run_dir / "run.lock"; }
  static std::optional<LockHolder> read(const fs::path& run_dir);  // nullopt: not locked

 private:
  RunLock(fs::path file, std::string token, int shared_fd, bool owner, std::chrono::milliseconds heartbeat);
  void heartbeat();
  void stop_heartbeat();

  fs::path file_;
  std::string token_;
  int shared_fd_ = -1;  // holds flock(LOCK_SH) on the lock while this process shares it
  bool owner_ = false;
  std::chrono::milliseconds heartbeat_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread beat_;
};

}  // namespace psmflow
