// How psmflow's OpenMP threads (LibTorch's, through libgomp) wait for each other.
#pragma once
#include <string>

namespace psmflow {

// libgomp reads its wait settings once, when it is loaded. By default a waiting thread spins
// 300,000 times before it sleeps; with more threads than free cores (a shared node, two trainings
// on one machine, ctest -j2) a spinning thread holds the core the thread it waits for needs: a
// tiny-preset step beside a copy of itself ran at 5.4 img/s instead of 11.8 with a spin count of
// 2,000, which costs 8% on cores of its own (docs/train.md, "Threads"). So, unless
// OMP_WAIT_POLICY or GOMP_SPINCOUNT is set, a psmflow command that computes executes itself
// again with GOMP_SPINCOUNT=kOpenMpSpinCount (main.cpp lists the quick ones that do not). Returns
// only when no re-execution was needed or it failed (then the run goes on with libgomp's default).
constexpr int kOpenMpSpinCount = 2000;
void limit_openmp_spinning(char** argv);

// The wait settings in force, and whether they are psmflow's default or the user's: for --version.
std::string openmp_wait_policy();

}  // namespace psmflow
