// RUN_DIR/run.lock (issue 16): one writer per run directory, shared by one command's processes,
// stale locks taken over, a lock handed to Slurm held while its jobs run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "psmflow/core/fs.hpp"
#include "psmflow/core/log.hpp"
#include "psmflow/store/run_lock.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using psmflow::test::ScratchDir;

namespace {

// Each call stands for another command: its own token.
std::unique_ptr<RunLock> acquire_as(const std::string& token, const fs::path& dir, const RunLock::JobsAlive& alive = {}) {
  ::setenv("PSMFLOW_RUN_LOCK", token.c_str(), 1);
  return RunLock::acquire(dir, "test " + token, alive);
}

void write_holder(const fs::path& dir, const std::string& host, long pid, std::vector<std::string> jobs = {}) {
  nlohmann::json j = {{"host", host},   {"pid", pid},        {"command", "run other.toml"},
                      {"since", "2026-12-01T10:00:00Z"}, {"token", "other"}, {"slurm_jobs", jobs}};
  write_file_atomic(RunLock::file(dir), j.dump());
}

long dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// What the token is made of: a test sets them as the processes it stands for would see them.
constexpr const char* kTokenVariables[] = {"PSMFLOW_RUN_LOCK", "PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid",
                                           "SLURM_JOB_ID", "SLURM_STEP_ID"};

// A process started with these variables (of those above), that has not taken the lock yet.
void as_process(const std::map<std::string, std::string>& vars) {
  for (const char* name : kTokenVariables) ::unsetenv(name);
  for (const auto& [name, value] : vars) ::setenv(name.c_str(), value.c_str(), 1);
}

std::unique_ptr<RunLock> acquire_on(const std::string& host, const fs::path& dir) {
  return RunLock::acquire(dir, "run on " + host, {}, host);
}

// Clears the token's variables for each test and restores them after (the tests may run under mpirun or Slurm).
struct LockTest : ::testing::Test {
  ScratchDir dir;
  std::map<std::string, std::string> saved;
  void SetUp() override {
    for (const char* name : kTokenVariables)
      if (const char* value = std::getenv(name)) saved[name] = value;
    as_process({});
  }
  void TearDown() override { as_process(saved); }
};

// A child that takes or shares the lock with this token, says which on the pipe `ready` and holds
// it until the pipe `hold` is closed.
pid_t fork_holder(const std::string& token, const fs::path& dir, const int ready[2], const int hold[2]) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::close(ready[0]);
  ::close(hold[1]);
  try {
    auto lock = acquire_as(token, dir);
    const char owner = lock->owner() ? 'o' : 's';
    char ignored = 0;
    if (::write(ready[1], &owner, 1) == 1 && ::read(hold[0], &ignored, 1) >= 0) ::_exit(0);
  } catch (...) {
  }
  ::_exit(1);
}

// "@<host>" as this host's temporary names spell it.
std::string temp_host_tag(const fs::path& dir) {
  AtomicPath probe(dir / "probe.txt");
  const std::string name = probe.temp().filename().string();
  const std::size_t at = name.find('@');
  return name.substr(at, name.find('.', at) - at);
}

}  // namespace

TEST_F(LockTest, SecondCommandIsRefusedNamingTheHolder) {
  auto first = acquire_as("a", dir.path());
  EXPECT_TRUE(first->owner());
  try {
    acquire_as("b", dir.path());
    FAIL() << "a second writer got the lock";
  } catch (const RunDirBusy& e) {
    const std::string msg = e.what();
    for (const std::string& part : {"process " + std::to_string(::getpid()) + " on " + host_name(),
                                    std::string("test a"), std::string("since 20"), RunLock::file(dir.path()).string()})
      EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  first->release();
  EXPECT_FALSE(fs::exists(RunLock::file(dir.path())));
  EXPECT_TRUE(acquire_as("b", dir.path())->owner());
}

TEST_F(LockTest, SameTokenSharesAndOnlyTheOwnerReleases) {
  auto owner = acquire_as("job", dir.path());
  auto rank = acquire_as("job", dir.path());
  EXPECT_TRUE(owner->owner());
  EXPECT_FALSE(rank->owner());
  EXPECT_EQ(std::string(std::getenv("PSMFLOW_RUN_LOCK")), "job");  // children inherit it
  rank.reset();
  EXPECT_TRUE(fs::exists(RunLock::file(dir.path())));
  owner.reset();
  EXPECT_FALSE(fs::exists(RunLock::file(dir.path())));
}

TEST_F(LockTest, DeadHolderOnThisHostIsTakenOver) {
  write_holder(dir.path(), host_name(), dead_pid());
  auto lock = acquire_as("new", dir.path());
  EXPECT_TRUE(lock->owner());
  EXPECT_EQ(RunLock::read(dir.path())->token, "new");
}

TEST_F(LockTest, OtherHostIsHeldUntilItsHeartbeatIsOld) {
  write_holder(dir.path(), "node-elsewhere", 1);
  EXPECT_THROW(acquire_as("new", dir.path()), RunDirBusy);
  fs::last_write_time(RunLock::file(dir.path()), fs::file_time_type::clock::now() - std::chrono::minutes(10));
  EXPECT_TRUE(acquire_as("new", dir.path())->owner());
}

namespace {

// Seconds since the lock was last touched.
double lock_age(const fs::path& dir) {
  return std::chrono::duration<double>(fs::file_time_type::clock::now() - fs::last_write_time(RunLock::file(dir)))
      .count();
}

// True once the lock's age is below `seconds`, within `wait`.
bool touched_within(const fs::path& dir, double seconds, std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  do {
    if (lock_age(dir) < seconds) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

}  // namespace

// A holder on another node is judged by its heartbeat alone: its owner must keep touching the
// lock while it works, and stop once the lock is handed to Slurm (the jobs are judged by squeue).
TEST_F(LockTest, TheOwnersHeartbeatKeepsOtherNodesOutUntilItIsHandedToSlurm) {
  const auto beat = std::chrono::milliseconds(50);
  auto owner = RunLock::acquire(dir.path(), "run on node-a", {}, "node-a", beat);
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(RunLock::file(dir.path()), old);
  ASSERT_TRUE(touched_within(dir.path(), 5, std::chrono::seconds(3))) << "the owner never touched its lock";
  as_process({{"PSMFLOW_RUN_LOCK", "another-command"}});
  EXPECT_THROW(acquire_on("node-b", dir.path()), RunDirBusy);

  owner->hand_to_slurm({"101"});
  fs::last_write_time(RunLock::file(dir.path()), old);
  EXPECT_FALSE(touched_within(dir.path(), 5, 10 * beat)) << "the heartbeat went on after the hand-over";
}

TEST_F(LockTest, HandedToSlurmItIsHeldWhileAJobLives) {
  auto submit = acquire_as("sub", dir.path());
  submit->hand_to_slurm({"101", "102"});
  submit.reset();  // submit exits; its jobs hold the lock
  ASSERT_TRUE(fs::exists(RunLock::file(dir.path())));
  EXPECT_EQ(RunLock::read(dir.path())->slurm_jobs, (std::vector<std::string>{"101", "102"}));
  std::vector<std::string> asked;
  auto alive = [&](const std::vector<std::string>& ids) {
    asked = ids;
    return true;
  };
  try {
    acquire_as("local-run", dir.path(), alive);
    FAIL();
  } catch (const RunDirBusy& e) {
    EXPECT_NE(std::string(e.what()).find("Slurm jobs 101 102"), std::string::npos) << e.what();
  }
  EXPECT_EQ(asked, (std::vector<std::string>{"101", "102"}));
  // A job of the submission shares it; once every job has ended, anyone may take it.
  auto task = acquire_as("sub", dir.path(), alive);
  EXPECT_FALSE(task->owner());
  EXPECT_TRUE(acquire_as("later", dir.path(), [](const std::vector<std::string>&) { return false; })->owner());
}

// The ranks of one MPI job find a stale lock at the same moment: they take it over or share it,
// and none fails.
TEST_F(LockTest, RanksOfOneJobTakeOverAStaleLockTogether) {
  write_holder(dir.path(), host_name(), dead_pid());
  std::vector<pid_t> ranks;
  for (int r = 0; r < 6; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) {
      try {
        auto lock = acquire_as("job-7", dir.path());
        ::_exit(lock->owner() ? 10 : 11);
      } catch (...) {
        ::_exit(1);
      }
    }
    ranks.push_back(pid);
  }
  int owners = 0, sharers = 0;
  for (pid_t pid : ranks) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    owners += WEXITSTATUS(status) == 10;
    sharers += WEXITSTATUS(status) == 11;
  }
  EXPECT_GE(owners, 1);
  EXPECT_EQ(owners + sharers, 6) << "a rank failed to take or share the lock";
  EXPECT_EQ(RunLock::read(dir.path())->token, "job-7");
}

// Audit L1: the ranks of one mpirun on two nodes present one token (the host is not part of it),
// and a rank on the second node shares the first node's fresh lock instead of exiting 2.
TEST_F(LockTest, RanksOfOneMpirunShareTheLockOnEveryNode) {
  const std::map<std::string, std::string> job = {{"PMIX_NAMESPACE", "1597898753"},
                                                  {"OMPI_MCA_ess_base_jobid", "1597898753"}};
  as_process(job);
  auto first = acquire_on("node-a", dir.path());
  as_process(job);
  auto second = acquire_on("node-b", dir.path());
  EXPECT_TRUE(first->owner());
  EXPECT_FALSE(second->owner());
  EXPECT_EQ(first->token(), second->token());
  // A stage process a rank starts: its token, none of the MPI variables (the rank strips them).
  as_process({{"PSMFLOW_RUN_LOCK", second->token()}});
  EXPECT_FALSE(acquire_on("node-b", dir.path())->owner());
  as_process({{"OMPI_MCA_ess_base_jobid", "1597898754"}});
  EXPECT_THROW(acquire_on("node-c", dir.path()), RunDirBusy) << "another mpirun shared the lock";
}

// Under an mpirun in a Slurm batch job, the ranks on the batch node see no step and those under
// the daemons srun started see step 0: they share. Another Slurm job's mpirun whose Open MPI id
// happens to be the same (a 16-bit hash of host and pid) does not.
TEST_F(LockTest, MpirunRanksInASlurmJobShareTheLockWhateverTheirStep) {
  as_process({{"OMPI_MCA_ess_base_jobid", "1597898753"}, {"SLURM_JOB_ID", "4242"}});
  auto batch_node = acquire_on("node-a", dir.path());
  as_process({{"OMPI_MCA_ess_base_jobid", "1597898753"}, {"SLURM_JOB_ID", "4242"}, {"SLURM_STEP_ID", "0"}});
  EXPECT_FALSE(acquire_on("node-b", dir.path())->owner());
  as_process({{"OMPI_MCA_ess_base_jobid", "1597898753"}, {"SLURM_JOB_ID", "4243"}});
  EXPECT_THROW(acquire_on("node-c", dir.path()), RunDirBusy) << "another Slurm job's mpirun shared the lock";
}

// Tasks that srun starts directly (pmi2: no Open MPI or PMIx variables) share their step's lock
// on every node; another step of the same job is another command.
TEST_F(LockTest, SrunTasksOfOneStepShareTheLock) {
  as_process({{"SLURM_JOB_ID", "4242"}, {"SLURM_STEP_ID", "2"}});
  auto first = acquire_on("node-a", dir.path());
  as_process({{"SLURM_JOB_ID", "4242"}, {"SLURM_STEP_ID", "2"}});
  auto second = acquire_on("node-b", dir.path());
  EXPECT_TRUE(first->owner());
  EXPECT_FALSE(second->owner());
  EXPECT_EQ(first->token(), second->token());
  as_process({{"SLURM_JOB_ID", "4242"}, {"SLURM_STEP_ID", "3"}});
  EXPECT_THROW(acquire_on("node-c", dir.path()), RunDirBusy) << "another step shared the lock";
  as_process({{"SLURM_JOB_ID", "4242"}});  // the batch step itself: no step id, a token of its own
  EXPECT_THROW(acquire_on("node-batch", dir.path()), RunDirBusy) << "the batch script shared its step's lock";
}

// Audit L2: the stage processes of a SIGKILLed `psmflow run` run on (until their next
// checkpoint) and share its lock; though the owner's pid is gone, the lock is not taken over
// before they have exited.
TEST_F(LockTest, StageProcessesOfAKilledRunKeepItsLockUntilTheyExit) {
  int ready[2], hold[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(hold), 0);
  char said[2] = {};
  const pid_t owner = fork_holder("run-1", dir.path(), ready, hold);
  ASSERT_EQ(::read(ready[0], &said[0], 1), 1);
  const pid_t stage = fork_holder("run-1", dir.path(), ready, hold);
  ASSERT_EQ(::read(ready[0], &said[1], 1), 1);
  ASSERT_EQ(std::string(said, 2), "os") << "the owner, then a process that shares its lock";
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  try {
    acquire_as("rerun", dir.path());
    FAIL() << "the lock was taken over beside a live stage process";
  } catch (const RunDirBusy& e) {
    const std::string msg = e.what();
    for (const std::string& part : {"process " + std::to_string(owner), std::string("test run-1"),
                                    std::string("is gone"), std::string("still run")})
      EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  ::close(hold[1]);  // the stage process reaches its checkpoint and exits
  int status = 0;
  ::waitpid(stage, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(acquire_as("rerun", dir.path())->owner());
  for (int fd : {ready[0], ready[1], hold[0]}) ::close(fd);
}

// Audit L5: the owner of a freshly taken lock removes what dead writers of this host left in the
// run root (config.toml, provenance.json, the lock's own) and in slurm/ (jobs.json), and nothing
// else: not a live writer's, not another host's, not a stage folder's (the stage sweeps it).
TEST_F(LockTest, TakingTheLockRemovesDeadWritersTemporariesInTheRunRootAndSlurm) {
  const std::string dead = std::string(kTempMarker) + std::to_string(dead_pid()) + temp_host_tag(dir.path());
  const std::vector<fs::path> swept = {dir / ("config" + dead + ".1f.toml"), dir / ("provenance" + dead + ".2e.json"),
                                       dir / ("run" + dead + ".3d.lock"), dir / "slurm" / ("jobs" + dead + ".4c.json")};
  const fs::path in_stage_folder = dir / "subjects" / "S1" / ("frames" + dead + ".5b.h5");
  const fs::path other_host = dir / ("config" + dead.substr(0, dead.find('@')) + "@elsewhere.6a.toml");
  AtomicPath live(dir / "provenance.json");
  for (const auto& p : swept) psmflow::test::write_text(p, "left behind");
  for (const auto& p : {in_stage_folder, other_host, live.temp()}) psmflow::test::write_text(p, "kept");
  EXPECT_TRUE(acquire_as("new", dir.path())->owner());
  for (const auto& p : swept) EXPECT_FALSE(fs::exists(p)) << p;
  for (const auto& p : {in_stage_folder, other_host, live.temp()}) EXPECT_TRUE(fs::exists(p)) << p;
}
