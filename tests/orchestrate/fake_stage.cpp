// A stand-in for the stage commands, run by the orchestrator through its test hook
// (PSMFLOW_TEST_STAGE_CMD='exec psmflow_fake_stage "$@"'). It keeps the stage contract — a manifest
// record via run_stage, an output file, exit 0/1/2 — and misbehaves on request:
//   PSMFLOW_FAKE_RULES  "SUBJECT:STAGE:ACTION[:ATTEMPT]" items separated by commas; ACTION is
//                       segv | kill9 | fail | usage | killparent | sleep=SECONDS | waitlog=LINES
//                       (wait until PSMFLOW_FAKE_LOG has that many lines: an order between stages
//                       that no sleep can promise on a slow machine); ATTEMPT (default every
//                       attempt) limits it to that attempt
//   PSMFLOW_FAKE_SLEEP  seconds every stage takes (default 0)
//   PSMFLOW_FAKE_LOG    file that gets "RANK SUBJECT STAGE ATTEMPT" for every stage that did work
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "psmflow/pipeline/stages.hpp"
#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/store/manifest.hpp"

using namespace psmflow;

namespace {

std::string env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// The action for this subject, stage and attempt, or "".
std::string rule_for(const std::string& subject, const std::string& stage, const std::string& attempt) {
  std::stringstream rules(env("PSMFLOW_FAKE_RULES"));
  std::string rule;
  while (std::getline(rules, rule, ',')) {
    std::stringstream parts(rule);
    std::string s, st, action, at;
    std::getline(parts, s, ':');
    std::getline(parts, st, ':');
    std::getline(parts, action, ':');
    std::getline(parts, at, ':');
    if (s == subject && st == stage && (at.empty() || at == attempt)) return action;
  }
  return "";
}

void log_work(const std::string& subject, const std::string& stage, const std::string& attempt) {
  std::string file = env("PSMFLOW_FAKE_LOG");
  if (file.empty()) return;
  std::string line = env("PSMFLOW_RANK", "0") + " " + subject + " " + stage + " " + attempt + "\n";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  ssize_t n = ::write(fd, line.data(), line.size());  // one write: lines from many processes stay whole
  (void)n;
  ::close(fd);
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

std::size_t log_lines() {
  std::ifstream in(env("PSMFLOW_FAKE_LOG"));
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// A failure after a minute, not a hang, when the lines never come.
void wait_for_log_lines(std::size_t want) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (log_lines() < want) {
    if (std::chrono::steady_clock::now() > give_up)
      throw StageError("fake stage: the work log never reached " + std::to_string(want) + " lines");
    sleep_s(0.02);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config, run_dir;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--config") config = argv[i + 1];
    if (std::string(argv[i]) == "--run-dir") run_dir = argv[i + 1];
  }
  std::string subject = env("PSMFLOW_SUBJECT"), stage = env("PSMFLOW_STAGE"), attempt = env("PSMFLOW_ATTEMPT", "1");
  if (config.empty() || subject.empty() || stage.empty()) {
    std::cerr << "fake stage: needs --config, PSMFLOW_SUBJECT and PSMFLOW_STAGE\n";
    return kExitUsage;
  }
  Config cfg = load_config(config);
  if (!run_dir.empty()) cfg.run.run_dir = run_dir;
  RunDir run(cfg.run.run_dir);
  Manifest m(run);
  std::string action = rule_for(subject, stage, attempt);
  if (action == "usage") {
    std::cerr << "psmflow " << stage << ": not built yet (fake)\n";
    return kExitUsage;
  }
  auto outcome = run_stage(m, subject, stage, "fake-input", psmflow::pipeline::config_hash(cfg, stage), [&] {
    log_work(subject, stage, attempt);
    sleep_s(std::atof(env("PSMFLOW_FAKE_SLEEP", "0").c_str()));
    if (action.rfind("sleep=", 0) == 0) sleep_s(std::atof(action.substr(6).c_str()));
    if (action.rfind("waitlog=", 0) == 0) wait_for_log_lines(std::stoul(action.substr(8)));
    if (action == "segv") ::raise(SIGSEGV);
    if (action == "kill9") ::raise(SIGKILL);
    if (action == "killparent") {
      ::kill(::getppid(), SIGKILL);
      sleep_s(30);  // PR_SET_PDEATHSIG ends this process once the rank is gone
    }
    if (action == "fail") throw StageError("fake failure of " + subject + " " + stage);
    fs::path out = psmflow::pipeline::stage_from_name(stage).output(run, subject);
    fs::create_directories(out.parent_path());
    write_file_atomic(out, subject + " " + stage + "\n");
    return StageResult{{out}, {}};
  });
  return outcome == StageOutcome::failed ? kExitStageFailed : kExitOk;
}
