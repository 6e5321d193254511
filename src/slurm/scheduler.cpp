#include "psmflow/slurm/scheduler.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <sstream>

#include "psmflow/core/error.hpp"
#include "psmflow/core/parse.hpp"

namespace psmflow::slurm {
namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Reads both pipes until they close, without blocking on one while the other fills.
void drain(int out_fd, int err_fd, CommandOutput& r) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* dest[2] = {&r.out, &r.err};
  int open = 2;
  char buf[4096];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0)
        dest[i]->append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
}

}  // namespace

CommandOutput run_command(const std::vector<std::string>& argv, const fs::path& cwd) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe() for " + argv.at(0) + ": " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork() for " + argv.at(0) + ": " + std::strerror(errno));
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::dprintf(2, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandOutput r;
  drain(out_pipe[0], err_pipe[0], r);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string SlurmScheduler::submit(const fs::path& script, const std::vector<std::string>& after, const fs::path& cwd) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  if (!after.empty()) argv.push_back("--dependency=afterany:" + join(after, ":"));
  argv.push_back(script.string());
  CommandOutput r = runner_(argv, cwd);
  // --parsable prints "jobid" or "jobid;cluster".
  std::string id = trim(r.out.substr(0, r.out.find(';')));
  if (r.exit_code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw std::runtime_error("sbatch " + script.string() + " failed (exit " + std::to_string(r.exit_code) +
                             "): " + trim(r.err + r.out));
  return id;
}

std::optional<std::vector<JobState>> SlurmScheduler::query(const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return std::vector<JobState>{};
  CommandOutput r = runner_({"squeue", "-h", "-r", "-t", "all", "-j", join(job_ids, ","), "-o", "%i|%T|%r"}, {});
  if (r.exit_code == 0) return parse_squeue(r.out);
  // Every id already purged from the controller: nothing is queued any more.
  if (r.err.find("Invalid job id") != std::string::npos) return std::vector<JobState>{};
  return std::nullopt;
}

int SlurmScheduler::max_array_size() {
  CommandOutput r = runner_({"scontrol", "show", "config"}, {});
  int n = r.exit_code == 0 ? parse_max_array_size(r.out) : 0;
  if (n <= 0)
    throw UsageError("cannot read MaxArraySize from `scontrol show config` (exit " + std::to_string(r.exit_code) +
                     "): " + trim(r.err) + "; set [slurm] max_array_size in the config");
  return n;
}

void SlurmScheduler::check_reachable() {
  for (const char* tool : {"sbatch", "squeue", "scontrol"}) {
    CommandOutput r = runner_({"/bin/sh", "-c", std::string("command -v ") + tool}, {});
    if (r.exit_code != 0)
      throw UsageError(std::string(tool) +
                       " is not on PATH: psmflow submits through Slurm's commands (load Slurm's module, or install "
                       "slurm-client); nothing was written");
  }
  CommandOutput r = runner_({"scontrol", "ping"}, {});
  if (r.exit_code != 0 || r.out.find("is UP") == std::string::npos)
    throw UsageError("the Slurm controller does not answer (`scontrol ping`, exit " + std::to_string(r.exit_code) +
                     "): " + trim(r.out + r.err) + "; check SLURM_CONF and that slurmctld runs; nothing was written");
}

std::vector<JobState> parse_squeue(const std::string& out) {
  std::vector<JobState> jobs;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty()) continue;
    std::size_t a = line.find('|'), b = line.find('|', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    jobs.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return jobs;
}

// Not a std::regex: libstdc++'s matcher recurses once per character, and a long line of
// `scontrol show config` output would overflow the stack (fuzz_slurm_output).
int parse_max_array_size(const std::string& scontrol_config) {
  std::istringstream in(scontrol_config);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || trim(line.substr(0, eq)) != "MaxArraySize") continue;
    const auto n = parse_integer(trim(line.substr(eq + 1)));
    return n && *n > 0 && *n <= std::numeric_limits<int>::max() ? static_cast<int>(*n) : 0;
  }
  return 0;
}

}  // namespace psmflow::slurm
