// Environment parsing (core/env.hpp) and the placement rules (core/placement.hpp), with fake
// environments: every variable a test sets is restored when the test ends.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "psmflow/core/env.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/placement.hpp"

using namespace psmflow;

namespace {

using Vars = std::map<std::string, std::optional<std::string>>;

// Sets (or, with nullopt, unsets) variables for one scope, then puts the old values back.
class FakeEnv {
 public:
  explicit FakeEnv(const Vars& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      set(name, value);
    }
  }
  ~FakeEnv() {
    for (const auto& [name, value] : saved_) set(name, value);
  }

 private:
  static void set(const std::string& name, const std::optional<std::string>& value) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
  Vars saved_;
};

constexpr auto kUnset = std::nullopt;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

// The variables the placement rules read, all unset: each test sets what it needs.
Vars no_scheduler() {
  return {{"SLURM_PROCID", kUnset}, {"SLURM_LOCALID", kUnset}, {"SLURM_CPUS_PER_TASK", kUnset},
          {"SLURM_STEP_GPUS", kUnset}, {"CUDA_VISIBLE_DEVICES", kUnset}};
}

Vars with(Vars base, const Vars& set) {
  for (const auto& [k, v] : set) base[k] = v;
  return base;
}

}  // namespace

TEST(Env, UnsetIsNulloptAndEmptyIsAValueOnlyForStrings) {
  FakeEnv env(Vars{{"PSMFLOW_T_A", kUnset}, {"PSMFLOW_T_B", ""}});
  EXPECT_EQ(env_string("PSMFLOW_T_A"), std::nullopt);
  EXPECT_EQ(env_string("PSMFLOW_T_B"), std::string());
  EXPECT_EQ(env_int("PSMFLOW_T_B"), std::nullopt);
  EXPECT_EQ(env_double("PSMFLOW_T_B"), std::nullopt);
  EXPECT_EQ(env_bool("PSMFLOW_T_B"), std::nullopt);
}

TEST(Env, NumbersParseWhole) {
  FakeEnv env(Vars{{"PSMFLOW_T_I", "-12"}, {"PSMFLOW_T_D", "2.5e-1"}});
  EXPECT_EQ(env_int("PSMFLOW_T_I"), -12);
  EXPECT_EQ(env_double("PSMFLOW_T_D"), 0.25);
}

TEST(Env, ABadNumberIsAnErrorNamingTheVariableAndTheValue) {
  FakeEnv env(Vars{{"PSMFLOW_COLLECTIVE_TIMEOUT_S", "abc"}, {"PSMFLOW_T_I", "12x"}, {"PSMFLOW_T_SP", " 3"},
               {"PSMFLOW_T_BIG", "99999999999999999999999"}, {"PSMFLOW_T_INF", "inf"}});
  EXPECT_EQ(error_of([] { env_double("PSMFLOW_COLLECTIVE_TIMEOUT_S"); }),
            "environment variable PSMFLOW_COLLECTIVE_TIMEOUT_S=\"abc\" is not a finite number");
  EXPECT_EQ(error_of([] { env_int("PSMFLOW_T_I"); }), "environment variable PSMFLOW_T_I=\"12x\" is not a whole number");
  EXPECT_NE(error_of([] { env_int("PSMFLOW_T_SP"); }), "no error");
  EXPECT_NE(error_of([] { env_int("PSMFLOW_T_BIG"); }), "no error");
  EXPECT_NE(error_of([] { env_double("PSMFLOW_T_INF"); }), "no error");
  EXPECT_NE(error_of([] { env_int("PSMFLOW_COLLECTIVE_TIMEOUT_S"); }).find("PSMFLOW_COLLECTIVE_TIMEOUT_S"),
            std::string::npos);
}

TEST(Env, SwitchesTakeTheUsualWordsAndNothingElse) {
  for (const char* yes : {"1", "true", "YES", "On"}) {
    FakeEnv env(Vars{{"PSMFLOW_T_S", yes}});
    EXPECT_EQ(env_bool("PSMFLOW_T_S"), true) << yes;
  }
  for (const char* no : {"0", "False", "no", "OFF"}) {
    FakeEnv env(Vars{{"PSMFLOW_T_S", no}});
    EXPECT_EQ(env_bool("PSMFLOW_T_S"), false) << no;
  }
  FakeEnv env(Vars{{"PSMFLOW_T_S", "maybe"}});
  EXPECT_NE(error_of([] { env_bool("PSMFLOW_T_S"); }).find("PSMFLOW_T_S=\"maybe\""), std::string::npos);
}

TEST(Placement, SlurmLocalIdCountsOnlyForTheTaskSrunStarted) {
  {
    FakeEnv env(no_scheduler());
    EXPECT_EQ(node_local_rank(5, 1), 1) << "without Slurm: MPI's node-local rank";
  }
  {
    FakeEnv env(with(no_scheduler(), {{"SLURM_PROCID", "5"}, {"SLURM_LOCALID", "3"}}));
    EXPECT_EQ(node_local_rank(5, 1), 3) << "srun's task: its SLURM_LOCALID";
  }
  {
    FakeEnv env(with(no_scheduler(), {{"SLURM_PROCID", "0"}, {"SLURM_LOCALID", "0"}}));
    EXPECT_EQ(node_local_rank(5, 1), 1) << "a rank mpirun started inherits its daemon's SLURM_*";
  }
  FakeEnv env(with(no_scheduler(), {{"SLURM_PROCID", "5"}, {"SLURM_LOCALID", "x"}}));
  EXPECT_NE(error_of([] { node_local_rank(5, 1); }).find("SLURM_LOCALID"), std::string::npos);
}

TEST(Placement, ThreadsPerRank) {
  {
    FakeEnv env(with(no_scheduler(), {{"SLURM_CPUS_PER_TASK", "6"}}));
    EXPECT_EQ(threads_per_rank(3, 2), 3) << "configured wins";
    EXPECT_EQ(threads_per_rank(0, 2), 6) << "then Slurm's share per task";
  }
  FakeEnv env(no_scheduler());
  EXPECT_EQ(threads_per_rank(0, 1), cores_allotted());
  EXPECT_EQ(threads_per_rank(0, cores_allotted()), 1);
  EXPECT_EQ(threads_per_rank(0, 1000), 1) << "never 0";
  FakeEnv bad(Vars{{"SLURM_CPUS_PER_TASK", "four"}});
  EXPECT_NE(error_of([] { threads_per_rank(0, 1); }).find("SLURM_CPUS_PER_TASK=\"four\""), std::string::npos);
}

TEST(Placement, GpusFromCudaVisibleDevicesFirstThenSlurm) {
  {
    FakeEnv env(with(no_scheduler(), {{"CUDA_VISIBLE_DEVICES", "2,3"}, {"SLURM_STEP_GPUS", "4,5,6"}}));
    EXPECT_EQ(node_gpus(), (std::vector<std::string>{"2", "3"}));
    auto g = gpu_for_rank(3);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->id, "3");
    EXPECT_EQ(g->index, 1) << "CUDA numbers the visible GPUs from 0";
  }
  {
    FakeEnv env(with(no_scheduler(), {{"SLURM_STEP_GPUS", "4,5,6"}}));
    auto g = gpu_for_rank(4);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->id, "5");
    EXPECT_EQ(g->index, 5) << "CUDA sees every GPU of the node";
  }
  {
    FakeEnv env(with(no_scheduler(), {{"CUDA_VISIBLE_DEVICES", ""}, {"SLURM_STEP_GPUS", "0"}}));
    EXPECT_TRUE(node_gpus().empty()) << "CUDA_VISIBLE_DEVICES=\"\" hides every GPU";
    EXPECT_FALSE(gpu_for_rank(0));
  }
  {
    FakeEnv env(with(no_scheduler(), {{"CUDA_VISIBLE_DEVICES", "GPU-1a2b,GPU-3c4d"}}));
    auto g = gpu_for_rank(2);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->id, "GPU-1a2b");
    EXPECT_EQ(g->index, 0);
  }
  FakeEnv env(with(no_scheduler(), {{"SLURM_STEP_GPUS", "a"}}));
  EXPECT_NE(error_of([] { gpu_for_rank(0); }).find("SLURM_STEP_GPUS"), std::string::npos);
}
