// Audit L1 under a real mpirun: the ranks, standing for ranks on two nodes, present one token
// from mpirun's own environment and all share RUN_DIR/run.lock; none exits 2.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <optional>

#include "psmflow/store/run_lock.hpp"
#include "support/test_support.hpp"

using namespace psmflow;

namespace {

int rank_in(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

std::string broadcast(std::string text) {
  int len = static_cast<int>(text.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  text.resize(static_cast<std::size_t>(len));
  MPI_Bcast(text.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

}  // namespace

TEST(RunLockMpi, RanksOnTwoNodesShareTheLock) {
  const int rank = rank_in(MPI_COMM_WORLD);
  std::optional<test::ScratchDir> scratch;
  if (rank == 0) scratch.emplace();
  const fs::path dir = broadcast(rank == 0 ? scratch->path().string() : "");
  const char* inherited = std::getenv("PSMFLOW_RUN_LOCK");  // set where the test runs under a psmflow command
  const std::optional<std::string> saved = inherited ? std::optional<std::string>(inherited) : std::nullopt;
  ::unsetenv("PSMFLOW_RUN_LOCK");
  // Rank 0 takes the lock first, on "node-0"; then the others join from "node-1" and "node-0".
  std::unique_ptr<RunLock> lock;
  std::string error;
  for (const bool first : {true, false}) {
    if ((rank == 0) == first) try {
        lock = RunLock::acquire(dir, "run", {}, "node-" + std::to_string(rank % 2));
      } catch (const std::exception& e) {
        error = e.what();
      }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  // Every rank checks the sums: only rank 0 prints (tests/support/mpi_main.cpp).
  const std::string token = lock ? lock->token() : "";
  const int mine[3] = {!error.empty(), lock && lock->owner(), token != broadcast(token)};
  int sums[3] = {};
  MPI_Allreduce(mine, sums, 3, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(sums[0], 0) << "ranks were refused the lock (a job would exit 2); rank " << rank << ": " << error;
  EXPECT_EQ(sums[1], 1) << "owners";
  EXPECT_EQ(sums[2], 0) << "ranks presented another token than rank 0";
  lock.reset();
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_FALSE(fs::exists(RunLock::file(dir))) << "the owner did not release the lock";
  MPI_Barrier(MPI_COMM_WORLD);
  if (saved) ::setenv("PSMFLOW_RUN_LOCK", saved->c_str(), 1);
}
