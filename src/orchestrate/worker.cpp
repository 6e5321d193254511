#include "psmflow/orchestrate/worker.hpp"

#include <signal.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "psmflow/orchestrate/run.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/train/stop.hpp"

namespace psmflow::orchestrate {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* kOutcomeNames[] = {"done", "failed", "crashed", "usage"};

ChainOutcome outcome_from_string(const std::string& s) {
  for (int i = 0; i < 4; ++i)
    if (s == kOutcomeNames[i]) return static_cast<ChainOutcome>(i);
  throw std::runtime_error("unknown chain outcome '" + s + "'");
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The child a stop signal was last passed on to: each child gets it once (repeated signals would
// interrupt its checkpoint writes for nothing).
pid_t g_stop_forwarded_to = 0;

// SIGUSR2 / SIGTERM to `psmflow run` (Slurm's time-limit warning through srun, scancel, mpirun)
// go on to the running stage child's process group: training checkpoints and exits 3.
void forward_stop(const Child& child) {
  if (!train::stop_requested() || g_stop_forwarded_to == child.pid()) return;
  g_stop_forwarded_to = child.pid();
  spdlog::warn("{}: passing it on to the running stage (pid {})", signal_name(train::stop_signal()), child.pid());
  child.signal_group(train::stop_signal());
}

// Exit 3 (interrupted with a checkpoint) or death by SIGTERM/SIGUSR2: a stop signal reached the stage.
bool stopped_by_signal(const ChildExit& e) {
  if (e.signaled) return e.signal == SIGTERM || e.signal == SIGUSR2;
  return e.code == train::kExitInterrupted;
}

[[noreturn]] void throw_stopped(const std::string& what) {
  throw std::runtime_error("stopped by " + signal_name(train::stop_signal()) + ": " + what);
}

// A stage the signal ended before it could record so itself (no handler: preprocess, embed, ...)
// is recorded interrupted, as the master does for a crash. A stage that recorded its own end
// (training: interrupted with a checkpoint) keeps its record.
void record_if_still_running(const fs::path& run_dir, const ChainResult& r) {
  Manifest m{RunDir(run_dir)};
  auto prev = m.get(r.subject, r.stage);
  if (prev && prev->status == Status::running) record_interrupted(m, r);
}

}  // namespace

std::string to_string(ChainOutcome o) { return kOutcomeNames[static_cast<int>(o)]; }

const std::vector<pipeline::StageStep>& chain_by_id(int id) {
  if (id == 0) return pipeline::subject_chain();
  if (id == 1) return pipeline::gm_chain();
  throw std::runtime_error("unknown chain id " + std::to_string(id));
}

std::string to_json(const Assignment& a) {
  return json{{"subject", a.subject}, {"attempt", a.attempt}, {"chain", a.chain}}.dump();
}

Assignment assignment_from_json(const std::string& text) {
  json j = json::parse(text);
  return {j.at("subject"), j.at("attempt"), j.at("chain")};
}

std::string to_json(const ChainResult& r) {
  return json{{"subject", r.subject}, {"attempt", r.attempt}, {"rank", r.rank}, {"outcome", to_string(r.outcome)},
              {"stage", r.stage},     {"error", r.error},     {"pid", r.pid},   {"host", r.host},
              {"seconds", r.seconds}, {"gap_ms", r.gap_ms}}
      .dump();
}

ChainResult result_from_json(const std::string& text) {
  json j = json::parse(text);
  ChainResult r;
  r.subject = j.at("subject");
  r.attempt = j.at("attempt");
  r.rank = j.at("rank");
  r.outcome = outcome_from_string(j.at("outcome"));
  r.stage = j.at("stage");
  r.error = j.at("error");
  r.pid = j.at("pid");
  r.host = j.at("host");
  r.seconds = j.at("seconds");
  r.gap_ms = j.at("gap_ms");
  return r;
}

std::vector<std::string> stage_argv(const WorkerSetup& setup, const pipeline::StageStep& step, const std::string& subject) {
  std::vector<std::string> argv = {setup.exe.string(), step.command};
  argv.insert(argv.end(), step.extra.begin(), step.extra.end());
  for (const std::string& a :
       {std::string("--config"), setup.config.string(), std::string("--run-dir"), setup.run_dir.string(),
        std::string("--subject"), subject, std::string("--threads"), std::to_string(setup.threads)})
    argv.push_back(a);
  return argv;
}

Worker::Worker(WorkerSetup setup) : setup_(std::move(setup)) { fs::create_directories(setup_.output_dir); }

void Worker::start(const Assignment& a) {
  if (busy()) throw std::logic_error("worker on rank " + std::to_string(setup_.rank) + " is busy");
  if (train::stop_requested()) throw_stopped("not starting " + a.subject);
  current_ = a;
  step_ = 0;
  chain_start_ = Clock::now();
  gap_ms_ = last_result_ ? ms_between(*last_result_, chain_start_) : -1;
  start_step();
}

void Worker::start_step() {
  const pipeline::StageStep& step = chain_by_id(current_.chain).at(step_);
  ChildSpec spec;
  spec.argv = stage_argv(setup_, step, current_.subject);
  spec.env = setup_.env;
  if (!setup_.test_command.empty()) {
    spec.argv[0] = "psmflow-stage";  // becomes $0 of the hook; "$@" are the stage arguments
    spec.argv.insert(spec.argv.begin(), {"/bin/sh", "-c", setup_.test_command});
    spec.env["PSMFLOW_STAGE"] = step.record;
    spec.env["PSMFLOW_SUBJECT"] = current_.subject;
    spec.env["PSMFLOW_RANK"] = std::to_string(setup_.rank);
    spec.env["PSMFLOW_ATTEMPT"] = std::to_string(current_.attempt);
  }
  output_ = setup_.output_dir /
            (current_.subject + "." + step.record + ".attempt" + std::to_string(current_.attempt) + ".log");
  spec.output = output_;
  spdlog::debug("rank {}: {} {} (attempt {})", setup_.rank, current_.subject, step.record, current_.attempt);
  child_ = Child::spawn(spec);
}

// After a stop signal the worker ends its phase by throwing (once its child has exited), on every
// rank the signal reached: srun and mpirun deliver it to all of them. run_pipeline catches it.
std::optional<ChainResult> Worker::poll() {
  if (!child_) {
    if (train::stop_requested()) throw_stopped("rank " + std::to_string(setup_.rank) + " was idle");
    return std::nullopt;
  }
  forward_stop(*child_);
  std::optional<ChildExit> e = child_->poll();
  if (!e) return std::nullopt;
  if (!train::stop_requested() && stopped_by_signal(*e)) {
    // scancel and Slurm's time limit signal every process of the step, so the stage may stop
    // before this process hears of it: that is this process's stop too, not a crash to retry
    // (a retry would start training again only to be stopped).
    spdlog::warn("{} {}: {}, stopped by a signal; stopping this rank too", current_.subject,
                 chain_by_id(current_.chain).at(step_).record, e->describe());
    train::request_stop(e->signaled ? e->signal : SIGTERM);
  }
  if (train::stop_requested()) {
    std::string how = e->describe() + " [log " + output_.string() + "]";
    ChainResult r = *finish(ChainOutcome::crashed, "stopped by " + signal_name(train::stop_signal()) + ", " + how);
    record_if_still_running(setup_.run_dir, r);
    throw_stopped(r.subject + " " + r.stage + " ended with " + how);
  }
  if (e->ok()) {
    child_.reset();
    if (++step_ < chain_by_id(current_.chain).size()) {
      start_step();
      return std::nullopt;
    }
    return finish(ChainOutcome::done, "");
  }
  std::string error = e->describe();
  ChainOutcome outcome = ChainOutcome::crashed;
  if (!e->signaled && e->code == 1) outcome = ChainOutcome::failed;
  if (!e->signaled && e->code == 2) outcome = ChainOutcome::usage;
  if (!e->signaled && e->code == 3) error += " (interrupted; it wrote a checkpoint to resume from)";
  std::string tail = tail_lines(output_, 3);
  if (!tail.empty()) error += "; its output ended with: " + tail;
  error += " [log " + output_.string() + "]";
  return finish(outcome, error);
}

std::optional<ChainResult> Worker::finish(ChainOutcome outcome, const std::string& error) {
  ChainResult r;
  r.subject = current_.subject;
  r.attempt = current_.attempt;
  r.rank = setup_.rank;
  r.outcome = outcome;
  r.stage = outcome == ChainOutcome::done ? "" : chain_by_id(current_.chain).at(step_).record;
  r.error = error;
  r.pid = child_ ? child_->pid() : 0;
  r.host = host_name();
  r.seconds = ms_between(chain_start_, Clock::now()) / 1000.0;
  r.gap_ms = gap_ms_;
  child_.reset();
  last_result_ = Clock::now();
  return r;
}

}  // namespace psmflow::orchestrate
