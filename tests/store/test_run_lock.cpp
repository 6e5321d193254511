// RUN_DIR/run.lock (issue 16): one writer per run directory, shared by one command's processes,
// stale locks taken over, a lock handed to Slurm held while its jobs run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>
#include <nlohmann/json.hpp>

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

struct LockTest : ::testing::Test {
  ScratchDir dir;
  void TearDown() override { ::unsetenv("PSMFLOW_RUN_LOCK"); }
};

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
