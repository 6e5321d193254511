// One phase of subject chains: rank 0 is the master (and a worker), the other ranks are workers.
// Messages are short JSON texts: assignments and the end of the phase go from the master to a
// worker, chain results come back.
#include <algorithm>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "psmflow/collectives/mpi.hpp"
#include "psmflow/orchestrate/eta.hpp"
#include "psmflow/orchestrate/run.hpp"
#include "psmflow/core/log.hpp"

namespace psmflow::orchestrate {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTagAssign = 11, kTagEnd = 12, kTagResult = 13, kTagSummary = 14;

struct Pending {
  std::string subject;
  int attempt = 1;
  std::set<int> failed_on;  // ranks where an attempt crashed: retry elsewhere when possible
};

// Sleeps a little longer each idle round (up to 2 ms), so waiting costs no core but a result
// is noticed within about 2 ms (the master's hand-out latency).
class Backoff {
 public:
  void reset() { pause_ = std::chrono::microseconds(50); }
  void sleep() {
    std::this_thread::sleep_for(pause_);
    pause_ = std::min(pause_ * 2, std::chrono::microseconds(2000));
  }

 private:
  std::chrono::microseconds pause_{50};
};

class Master {
 public:
  Master(const Config& cfg, const RunOptions& opt, Worker& local, int chain, int world, PhaseSummary& sum)
      : opt_(opt),
        manifest_(RunDir(cfg.run.run_dir)),
        local_(local),
        chain_(chain),
        world_(world),
        sum_(sum),
        busy_(world, false),
        eta_(RunDir(cfg.run.run_dir), chain == 0 ? cfg.psm.epochs : 0),
        start_(Clock::now()),
        last_print_(start_) {}

  void add(const std::string& subject) { queue_.push_back({subject, 1, {}}); }

  void run(MPI_Comm comm) {
    Backoff backoff;
    while (!finished()) {
      bool progressed = dispatch(comm);
      if (auto r = local_.poll()) progressed = true, handle(*r);
      int flag = 0;
      MPI_Status st;
      if (world_ > 1) PSMFLOW_MPI(MPI_Iprobe(MPI_ANY_SOURCE, kTagResult, comm, &flag, &st));
      if (flag) progressed = true, handle(result_from_json(collectives::recv_text(comm, st.MPI_SOURCE, kTagResult)));
      print_progress(false);
      if (progressed)
        backoff.reset();
      else
        backoff.sleep();
    }
    print_progress(true);
    for (int w = 1; w < world_; ++w) collectives::send_text(comm, w, kTagEnd, "end");
  }

 private:
  bool finished() const { return (queue_.empty() || sum_.stopped) && running() == 0; }
  int running() const { return static_cast<int>(std::count(busy_.begin(), busy_.end(), true)); }

  // An item may go to worker w unless an attempt already crashed there and some other worker has
  // not tried it yet.
  bool eligible(const Pending& p, int w) const {
    return !p.failed_on.count(w) || static_cast<int>(p.failed_on.size()) >= world_;
  }

  bool dispatch(MPI_Comm comm) {
    bool any = false;
    for (int w = 0; w < world_ && !sum_.stopped; ++w) {
      if (busy_[w]) continue;
      auto it = std::find_if(queue_.begin(), queue_.end(), [&](const Pending& p) { return eligible(p, w); });
      if (it == queue_.end()) continue;
      Assignment a{it->subject, it->attempt, chain_};
      attempts_[a.subject] = *it;
      eta_.started(a.subject);
      queue_.erase(it);
      busy_[w] = true;
      any = true;
      if (w == 0)
        local_.start(a);
      else
        collectives::send_text(comm, w, kTagAssign, to_json(a));
    }
    return any;
  }

  void handle(const ChainResult& r) {
    busy_[r.rank] = false;
    if (r.gap_ms >= 0) (r.rank == 0 ? sum_.gaps_ms : sum_.remote_gaps_ms).push_back(r.gap_ms);
    eta_.finished(r.subject);
    switch (r.outcome) {
      case ChainOutcome::done:
        ++sum_.done;
        return;
      case ChainOutcome::failed:
        fail(r, r.stage + " failed: " + r.error);
        return;
      case ChainOutcome::usage:
        fail(r, r.stage + ": " + r.error);
        if (sum_.stopped) return;
        sum_.stopped = true;
        sum_.stop_reason = "the " + r.stage + " stage command for " + r.subject +
                           " exited 2 (bad usage, or not built yet), so every subject would fail the same way";
        spdlog::error("stopping the run: {}; waiting for the {} running subject(s)", sum_.stop_reason, running());
        return;
      case ChainOutcome::crashed:
        crashed(r);
        return;
    }
  }

  void crashed(const ChainResult& r) {
    record_interrupted(manifest_, r);
    Pending p = attempts_[r.subject];
    p.failed_on.insert(r.rank);
    if (r.attempt <= opt_.retries && !sum_.stopped) {
      spdlog::warn("{} {} on rank {}: {}; retrying (attempt {} of {})", r.subject, r.stage, r.rank, r.error,
                   r.attempt + 1, opt_.retries + 1);
      p.attempt = r.attempt + 1;
      ++sum_.retried;
      queue_.push_front(p);
      return;
    }
    fail(r, r.stage + " " + r.error + " (attempt " + std::to_string(r.attempt) + ", no retries left)");
  }

  void fail(const ChainResult& r, const std::string& what) {
    ++sum_.failed;
    sum_.failures.push_back(r.subject + ": " + what);
    spdlog::error("{} on rank {}: {}", r.subject, r.rank, what);
  }

  void print_progress(bool final) {
    auto now = Clock::now();
    if (!final && now - last_print_ < opt_.progress_interval) return;
    last_print_ = now;
    std::string line = fmt::format("{}: {}/{} subjects done, {} failed, {} running, {} queued", phase_name(),
                                   sum_.skipped + sum_.done, sum_.total, sum_.failed, running(), queue_.size());
    double elapsed = std::chrono::duration<double>(now - start_).count();
    if (final) {
      line += fmt::format(" in {:.1f} s", elapsed);
    } else if (auto eta = eta_.seconds_left(elapsed, static_cast<int>(queue_.size()) + running())) {
      line += ", ETA " + eta_text(*eta);
    }
    spdlog::info("{}", line);
  }

  std::string phase_name() const { return chain_ == 0 ? "subjects" : "GM embeddings + evaluation"; }

  const RunOptions& opt_;
  Manifest manifest_;
  Worker& local_;
  int chain_, world_;
  PhaseSummary& sum_;
  std::deque<Pending> queue_;
  std::map<std::string, Pending> attempts_;
  std::vector<bool> busy_;
  PhaseEta eta_;
  Clock::time_point start_, last_print_;
};

void remote_worker(Worker& worker, MPI_Comm comm) {
  Backoff backoff;
  for (;;) {
    bool progressed = false;
    int flag = 0;
    MPI_Status st;
    PSMFLOW_MPI(MPI_Iprobe(0, MPI_ANY_TAG, comm, &flag, &st));
    if (flag) {
      std::string text = collectives::recv_text(comm, 0, st.MPI_TAG);
      if (st.MPI_TAG == kTagEnd) return;
      worker.start(assignment_from_json(text));
      progressed = true;
    }
    if (auto r = worker.poll()) {
      collectives::send_text(comm, 0, kTagResult, to_json(*r));
      progressed = true;
    }
    if (progressed)
      backoff.reset();
    else
      backoff.sleep();
  }
}

// Every rank learns how the phase ended (the master alone kept count).
void share_summary(PhaseSummary& sum, MPI_Comm comm, int rank) {
  std::string text;
  if (rank == 0)
    text =
        nlohmann::json{
            {"done", sum.done}, {"failed", sum.failed}, {"stopped", sum.stopped}, {"reason", sum.stop_reason}}
            .dump();
  int len = static_cast<int>(text.size());
  MPI_Request req;
  PSMFLOW_MPI(MPI_Ibcast(&len, 1, MPI_INT, 0, comm, &req));
  collectives::wait_polling(req);
  text.resize(static_cast<std::size_t>(len));
  PSMFLOW_MPI(MPI_Ibcast(text.data(), len, MPI_CHAR, 0, comm, &req));
  collectives::wait_polling(req);
  if (rank == 0) return;
  auto j = nlohmann::json::parse(text);
  sum.done = j.at("done");
  sum.failed = j.at("failed");
  sum.stopped = j.at("stopped");
  sum.stop_reason = j.at("reason");
}

// Resident memory of this process in MiB (Linux /proc), for the master's queue-size report.
double resident_mib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  double kib = 0;
  while (in >> key)
    if (key == "VmRSS:" && in >> kib) break;
  return kib / 1024.0;
}

}  // namespace

void record_interrupted(Manifest& m, const ChainResult& r) {
  auto prev = m.get(r.subject, r.stage);
  Record rec;
  if (prev && prev->status == Status::running) {
    rec = *prev;
  } else {
    rec.subject = r.subject;
    rec.stage = r.stage;
    rec.started = now_iso8601();
    rec.host = r.host;
    rec.pid = r.pid;
    rec.attempt = prev ? prev->attempt + 1 : 1;
  }
  m.finish_failed(rec, r.error, Status::interrupted);
}

PhaseSummary run_chain_phase(const Config& cfg, const RunOptions& opt, const WorkerSetup& setup, int chain,
                             const std::vector<std::string>& subjects, MPI_Comm comm) {
  collectives::RankInfo info = collectives::rank_info(comm);
  Worker worker(setup);
  PhaseSummary sum;
  if (info.rank == 0) {
    double before = resident_mib();
    Manifest manifest{RunDir(cfg.run.run_dir)};
    std::vector<pipeline::QueueItem> queue = pipeline::build_queue(manifest, cfg, subjects, chain_by_id(chain));
    sum.total = static_cast<int>(subjects.size());
    sum.skipped = sum.total - static_cast<int>(queue.size());
    if (sum.skipped > 0) spdlog::info("{} of {} subjects already done, skipped", sum.skipped, sum.total);
    Master master(cfg, opt, worker, chain, info.world, sum);
    for (const auto& q : queue) master.add(q.subject);
    spdlog::info("{} subjects queued for {} worker(s) (master resident memory {:.1f} MiB, {:+.2f} MiB for the queue)",
                 queue.size(), info.world, resident_mib(), resident_mib() - before);
    master.run(comm);
  } else {
    remote_worker(worker, comm);
  }
  share_summary(sum, comm, info.rank);
  return sum;
}

}  // namespace psmflow::orchestrate
