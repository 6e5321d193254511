// The watchdog without MPI (the lone NCCL rank of tools/bench/gpu_check): a call that outlives its
// timeout ends the process with a message naming the rank, the call and the timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "psmflow/collectives/watchdog.hpp"

using namespace psmflow::collectives;

TEST(WatchdogDeathTest, AStuckCallEndsTheProcessNamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog w(std::chrono::seconds(1), "rank 0", exit_alone);
        Watchdog::Scope guard(w, "ncclCommInitRank");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      testing::ExitedWithCode(1), "psmflow: rank 0: ncclCommInitRank did not finish within 1 s .*; exiting");
}

TEST(Watchdog, ACallThatFinishesInTimeIsLeftAlone) {
  Watchdog w(std::chrono::milliseconds(200), "rank 0", exit_alone);
  for (int i = 0; i < 3; ++i) {
    Watchdog::Scope guard(w, "quick");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // disarmed: nothing fires
  SUCCEED();
}
