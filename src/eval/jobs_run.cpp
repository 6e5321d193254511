#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <set>

#include "psmflow/eval/jobs.hpp"

extern char** environ;

namespace psmflow::eval {

namespace {

std::string quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:+") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs binary with args, inheriting stdout/stderr; returns its exit status (128+signal if killed).
int spawn_and_wait(const std::filesystem::path& binary, const std::vector<std::string>& args) {
  std::vector<std::string> words = {binary.string()};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string command_line(const std::filesystem::path& binary, const JobStep& step) {
  std::string out = quote(binary.string());
  for (const auto& a : step.args) out += " " + quote(a);
  return out;
}

JobRunResult run_job_steps(const std::vector<JobStep>& steps, const std::filesystem::path& binary, bool dry_run,
                           std::ostream& log) {
  JobRunResult r;
  std::set<std::string> bad;  // failed or skipped: their dependents cannot run
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const JobStep& s = steps[i];
    std::string blocked;
    for (const auto& a : s.after)
      if (bad.count(a)) blocked = a;
    std::string prefix = "[" + std::to_string(i + 1) + "/" + std::to_string(steps.size()) + "] " + s.id;
    if (!blocked.empty()) {
      log << prefix << ": skipped (needs " << blocked << ", which did not succeed)\n";
      bad.insert(s.id), r.skipped.push_back(s.id);
      continue;
    }
    log << prefix << ": " << command_line(binary, s) << "\n" << std::flush;
    if (dry_run) continue;
    int rc = spawn_and_wait(binary, s.args);
    if (rc != 0) {
      log << prefix << ": failed (exit " << rc << ")\n";
      bad.insert(s.id), r.failed.push_back(s.id);
    }
  }
  r.exit_code = r.failed.empty() && r.skipped.empty() ? 0 : 1;
  return r;
}

}  // namespace psmflow::eval
