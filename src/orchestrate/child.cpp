#include "psmflow/orchestrate/child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace psmflow::orchestrate {
namespace {

bool is_mpi_variable(const std::string& entry) {
  for (const char* prefix : {"OMPI_", "PMIX_", "PMI_", "OPAL_", "ORTE_"})
    if (entry.rfind(prefix, 0) == 0) return true;
  return false;
}

std::vector<std::string> child_environment(const ChildSpec& spec) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (spec.strip_mpi_env && is_mpi_variable(entry)) continue;
    if (spec.env.count(name)) continue;
    env.push_back(entry);
  }
  for (const auto& [name, value] : spec.env) env.push_back(name + "=" + value);
  // OpenMP's wait settings come with the environment: psmflow limited its own spinning at start
  // (core/openmp.hpp), or the user chose.
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Between fork and exec only async-signal-safe calls: the parent may hold MPI and malloc locks.
[[noreturn]] void exec_child(pid_t parent, int out_fd, char** argv, char** envp) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
  if (out_fd >= 0) {
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
  }
  ::execvpe(argv[0], argv, envp);
  const char msg[] = "psmflow: exec of a stage command failed\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  ::_exit(127);
}

}  // namespace

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string ChildExit::describe() const {
  if (!signaled) return "exit status " + std::to_string(code);
  std::string text = "killed by " + signal_name(signal) + " (signal " + std::to_string(signal);
  if (signal == SIGKILL) text += "; kill -9 or out of memory";
  return text + ")";
}

ChildExit exit_from_wait_status(int status) {
  ChildExit e;
  if (WIFSIGNALED(status)) {
    e.signaled = true;
    e.signal = WTERMSIG(status);
  } else {
    e.code = WEXITSTATUS(status);
  }
  return e;
}

Child Child::spawn(const ChildSpec& spec) {
  if (spec.argv.empty()) throw std::runtime_error("spawning a child: empty command line");
  std::vector<std::string> args = spec.argv, env = child_environment(spec);
  std::vector<char*> argv = c_strings(args), envp = c_strings(env);
  int out_fd = -1;
  if (!spec.output.empty()) {
    out_fd = ::open(spec.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0)
      throw std::runtime_error("cannot open " + spec.output.string() +
                               " for a child's output: " + std::strerror(errno));
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) exec_child(parent, out_fd, argv.data(), envp.data());
  int fork_errno = errno;
  if (out_fd >= 0) ::close(out_fd);
  if (pid < 0) throw std::runtime_error("fork for " + spec.argv[0] + " failed: " + std::strerror(fork_errno));
  ::setpgid(pid, pid);  // also from the parent, so signal_group works before the child runs
  return Child(pid);
}

std::optional<ChildExit> Child::poll() {
  if (exit_) return exit_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_)
    exit_ = exit_from_wait_status(status);
  else if (r < 0 && errno != EINTR)
    throw std::runtime_error("waitpid(" + std::to_string(pid_) + ") failed: " + std::strerror(errno));
  return exit_;
}

ChildExit Child::wait() {
  while (!exit_) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, 0);
    if (r == pid_)
      exit_ = exit_from_wait_status(status);
    else if (r < 0 && errno != EINTR)
      throw std::runtime_error("waitpid(" + std::to_string(pid_) + ") failed: " + std::strerror(errno));
  }
  return *exit_;
}

void Child::signal_group(int sig) const {
  if (!exit_) ::kill(-pid_, sig);
}

std::string tail_lines(const fs::path& file, int lines) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  // Only the end matters and stage logs can be long: read the last 16 KiB.
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(std::max<std::streamoff>(0, size - 16384));
  std::vector<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.erase(last.begin());
  }
  std::string out;
  for (const auto& l : last) out += (out.empty() ? "" : "\n") + l;
  return out;
}

}  // namespace psmflow::orchestrate
