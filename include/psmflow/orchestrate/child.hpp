// Child processes of a worker rank: each stage of a subject runs in one, so that a crash, kill -9
// or out-of-memory kill of that stage cannot take the rank (and with Open MPI 4.1, the whole job)
// down. fork is followed at once by exec (only async-signal-safe calls in between), which is what
// MPI implementations allow after MPI_Init.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace psmflow::orchestrate {
namespace fs = std::filesystem;

struct ChildSpec {
  std::vector<std::string> argv;           // argv[0] is the program (absolute path or found on PATH)
  std::map<std::string, std::string> env;  // set on top of this process's environment
  // Drops OMPI_*, PMIX_*, PMI_*, OPAL_* and ORTE_* so a child that links MPI does not join this job.
  bool strip_mpi_env = true;
  fs::path output;  // stdout and stderr appended here; empty = inherited
};

struct ChildExit {
  bool signaled = false;
  int code = 0;    // exit status when !signaled
  int signal = 0;  // signal number when signaled
  bool ok() const { return !signaled && code == 0; }
  // "exit status 1", "killed by SIGSEGV (signal 11)", "killed by SIGKILL (signal 9; kill -9 or out of memory)"
  std::string describe() const;
};
ChildExit exit_from_wait_status(int status);
std::string signal_name(int sig);  // "SIGSEGV"

// One running child. The child gets its own process group and SIGTERM when this thread exits
// (PR_SET_PDEATHSIG), so children never outlive a killed rank.
class Child {
 public:
  static Child spawn(const ChildSpec& spec);  // throws std::runtime_error naming the program and errno
  pid_t pid() const { return pid_; }
  std::optional<ChildExit> poll();  // non-blocking waitpid
  ChildExit wait();
  void signal_group(int sig) const;  // to the child's whole process group

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<ChildExit> exit_;
};

// Last `lines` lines of a text file (for error messages quoting a child's output); empty if none.
std::string tail_lines(const fs::path& file, int lines);

}  // namespace psmflow::orchestrate
