// Unit tests of the parts of `psmflow run` that need no MPI: sharding, queue order, child
// processes and their exit descriptions, the GM sampler.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <set>

#include "support/cohort.hpp"
#include "psmflow/orchestrate/child.hpp"
#include "psmflow/train/gm_sampler.hpp"
#include "psmflow/pipeline/plan.hpp"
#include "psmflow/core/error.hpp"

using namespace psmflow;
using namespace psmflow::orchestrate;
using namespace psmflow::pipeline;
using namespace psmflow::train;
using namespace psmflow::test;

TEST(Shard, ParsesAndRejects) {
  Shard s = parse_shard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  for (const char* bad : {"5/5", "1/0", "-1/3", "1/3/4", "a/b", "", "3"})
    EXPECT_THROW(parse_shard(bad), UsageError) << bad;
}

TEST(Shard, IsDeterministicDisjointAndComplete) {
  std::vector<std::string> ids = {"S07", "S01", "S10", "S03", "S02", "S05", "S04", "S09", "S06", "S08"};
  std::vector<std::string> shuffled = ids;
  std::reverse(shuffled.begin(), shuffled.end());
  std::set<std::string> all;
  for (int i = 0; i < 3; ++i) {
    auto part = shard_subjects(ids, {i, 3});
    EXPECT_EQ(part, shard_subjects(shuffled, {i, 3})) << "depends on the config's order";
    for (const auto& id : part) EXPECT_TRUE(all.insert(id).second) << id << " in two shards";
  }
  EXPECT_EQ(all.size(), ids.size());
  EXPECT_EQ(shard_subjects(ids, {0, 3}), (std::vector<std::string>{"S01", "S04", "S07", "S10"}));
  EXPECT_EQ(shard_subjects(ids, {0, 1}).size(), ids.size());
}

TEST(Queue, LargestFirstAndDoneSubjectsLeftOut) {
  ScratchDir dir;
  Config cfg = load_config(make_cohort(dir.path(), 4));
  RunDir run = RunDir::create(cfg);
  Manifest m(run);
  // S02's whole chain is done; S01 only preprocessed.
  for (const auto& [id, stages] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"S02", {stage::preprocess, stage::psm, stage::embed, "embed-untrained"}}, {"S01", {stage::preprocess}}})
    for (const auto& st : stages) {
      fs::path out = run.subject_dir(id) / (st + ".out");
      write_text(out, "x");
      Record r = m.begin(id, st, "in", psmflow::pipeline::config_hash(cfg, st));
      m.finish_done(r, {out});
    }
  auto q = build_queue(m, cfg, {"S04", "S03", "S02", "S01"}, subject_chain());
  std::vector<std::string> order;
  for (const auto& item : q) order.push_back(item.subject);
  EXPECT_EQ(order, (std::vector<std::string>{"S01", "S03", "S04"}));
  EXPECT_GT(q[0].input_bytes, q[1].input_bytes);
  // A done record whose output went missing is not done.
  fs::remove(run.subject_dir("S02") / "psm.out");
  EXPECT_EQ(build_queue(m, cfg, {"S02"}, subject_chain()).size(), 1u);
}

TEST(Child, ReportsExitStatusAndSignalsByName) {
  ScratchDir dir;
  auto run = [&](const std::string& script) {
    ChildSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.output = dir / "out.log";
    return Child::spawn(spec).wait();
  };
  EXPECT_TRUE(run("exit 0").ok());
  EXPECT_EQ(run("exit 1").describe(), "exit status 1");
  ChildExit segv = run("kill -SEGV $$");
  EXPECT_TRUE(segv.signaled);
  EXPECT_EQ(segv.describe(), "killed by SIGSEGV (signal 11)");
  EXPECT_EQ(run("kill -9 $$").describe(), "killed by SIGKILL (signal 9; kill -9 or out of memory)");
  run("echo first; echo second; echo third >&2");
  EXPECT_EQ(tail_lines(dir / "out.log", 2), "second\nthird");
}

TEST(Child, DoesNotInheritMpiVariablesAndGetsItsOwn) {
  ScratchDir dir;
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo \"[${OMPI_COMM_WORLD_RANK}] [$PSMFLOW_X]\""};
  spec.env = {{"PSMFLOW_X", "y"}};
  spec.output = dir / "out.log";
  EXPECT_TRUE(Child::spawn(spec).wait().ok());
  unsetenv("OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(tail_lines(dir / "out.log", 1), "[] [y]");
}

TEST(Child, MissingProgramIsAFailedAttemptNotACrashOfTheParent) {
  ChildSpec spec;
  spec.argv = {"/nonexistent/psmflow"};
  ChildExit e = Child::spawn(spec).wait();
  EXPECT_EQ(e.describe(), "exit status 127");
}

TEST(GmSampler, RanksSplitEveryGlobalBatchDisjointly) {
  GmSamplerSetup s;
  s.frames = {50, 10, 30};
  s.seed = 3;
  s.world = 3;
  s.batch = 4;
  std::vector<GmItem> merged;
  auto global = GmSampler(s).global_epoch(2);
  std::vector<std::vector<GmItem>> parts;
  for (int r = 0; r < 3; ++r) {
    s.rank = r;
    parts.push_back(GmSampler(s).rank_epoch(2));
  }
  ASSERT_EQ(global.size(), parts[0].size() * 3);
  for (std::size_t step = 0; step < parts[0].size() / 4; ++step)
    for (int r = 0; r < 3; ++r)
      for (int k = 0; k < 4; ++k) {
        const GmItem& a = parts[r][step * 4 + k];
        const GmItem& b = global[step * 12 + r * 4 + k];
        EXPECT_TRUE(a.subject == b.subject && a.a == b.a && a.b == b.b && a.flip == b.flip);
      }
}

TEST(GmSampler, FollowsMethodPairsAndChangesWithEpoch) {
  GmSamplerSetup s;
  s.frames = {200, 150, 300};
  s.items_per_epoch = 4000;
  s.batch = 8;
  GmSampler gm(s);
  auto items = gm.global_epoch(1);
  int flips = 0;
  std::vector<int> per_subject(3);
  for (const auto& it : items) {
    ASSERT_LT(it.a, s.frames[it.subject]);
    ASSERT_LT(it.b, s.frames[it.subject]);
    if (it.flip) {
      ++flips;
      EXPECT_EQ(it.a, it.b);
    } else {
      EXPECT_NE(it.a, it.b);
    }
    ++per_subject[it.subject];
  }
  EXPECT_NEAR(flips / double(items.size()), 0.5, 0.05);
  for (int n : per_subject) EXPECT_NEAR(n / double(items.size()), 1.0 / 3, 0.05) << "persons drawn uniformly";
  auto again = gm.global_epoch(1), next = gm.global_epoch(2);
  EXPECT_EQ(again[5].a, items[5].a);
  int same = 0;
  for (std::size_t i = 0; i < items.size(); ++i) same += next[i].a == items[i].a && next[i].subject == items[i].subject;
  EXPECT_LT(same, 100);

  s.mode = "gm-ctl";
  GmSampler ctl(s);
  for (int epoch : {1, 60, 120})
    for (const auto& it : ctl.global_epoch(epoch)) {
      ASSERT_EQ(it.b - it.a, ctl.delta(epoch, it.subject));
      ASSERT_FALSE(it.flip);
    }
  EXPECT_EQ(ctl.delta(60, 1), 149) << "5*60 capped at frames-1";
  EXPECT_EQ(ctl.delta(20, 0), 40);
}

TEST(GmSampler, RejectsWhatCannotTrain) {
  GmSamplerSetup s;
  s.frames = {10};
  s.mode = "psm";
  EXPECT_THROW(GmSampler{s}, UsageError);
  s.mode = "gm";
  s.batch = 16;
  s.world = 2;
  EXPECT_THROW(GmSampler{s}, UsageError) << "5 items are fewer than one global batch";
}
