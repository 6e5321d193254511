// Script generation: golden files, shell quoting of hostile paths, template errors, array splitting.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/slurm/script.hpp"
#include "psmflow/slurm/shards.hpp"
#include "support/test_support.hpp"

namespace psmflow {
namespace {

const fs::path kTestDir = PSMFLOW_SLURM_TEST_DIR;

Config golden_config(const std::string& slurm_section) {
  std::string text =
      "[run]\nrun_dir = \"/runs/golden\"\n[data]\nids = [\"S01\", \"S02\", \"S03\", \"S04\", \"S05\"]\n"
      "input = \"/data/{id}.avi\"\n[slurm]\npsmflow_bin = \"/opt/psmflow/bin/psmflow\"\n" +
      slurm_section;
  return parse_config(text, "/configs/golden.toml", /*check_files=*/false);
}

slurm::ScriptContext context(const Config& cfg) {
  slurm::ScriptContext ctx = slurm::make_context(cfg, cfg.run.run_dir);
  ctx.shard_count = static_cast<int>(slurm::plan_shards(cfg).size());
  ctx.run_lock = "golden-token";
  return ctx;
}

void expect_golden(const std::string& name, const std::string& text) {
  fs::path p = kTestDir / "golden" / name;
  if (std::getenv("PSMFLOW_UPDATE_GOLDEN")) write_file_atomic(p, text);
  ASSERT_TRUE(fs::exists(p)) << p << " missing; run with PSMFLOW_UPDATE_GOLDEN=1 to create it";
  EXPECT_EQ(read_file(p), text) << "generated script differs from " << p;
}

TEST(SlurmScript, CpuScriptsMatchGoldenFiles) {
  Config cfg = golden_config("subjects_per_task = 2\nthrottle = 2\nmem = \"4G\"\ntime = \"01:30:00\"\n");
  auto ctx = context(cfg);
  ASSERT_EQ(ctx.shard_count, 3);
  expect_golden("cpu-array.sbatch", slurm::array_script(ctx, {0, 1, 2}, ""));
  expect_golden("cpu-gm.sbatch", slurm::gm_script(ctx));
  expect_golden("cpu-collect.sbatch", slurm::collect_script(ctx));
}

TEST(SlurmScript, GpuScriptsMatchGoldenFiles) {
  Config cfg = golden_config(
      "partition = \"gpu\"\naccount = \"proj-42\"\nqos = \"normal\"\ngpus_per_task = 1\ngm_nodes = 2\n"
      "gm_gpus_per_node = 4\nsignal_lead_s = 600\nmax_requeues = 5\nextra_sbatch = [\"--constraint=a100\"]\n");
  auto ctx = context(cfg);
  expect_golden("gpu-array.sbatch", slurm::array_script(ctx, {1, 4}, "1"));
  expect_golden("gpu-gm.sbatch", slurm::gm_script(ctx));
}

// A value survives a round trip through the generated assignment exactly, and no command runs.
std::string assigned_value(const std::string& script, const std::string& var, const fs::path& scratch) {
  std::size_t at = script.find("\n" + var + "=");
  EXPECT_NE(at, std::string::npos) << var << " not assigned";
  std::string line = script.substr(at + 1, script.find('\n', at + 1) - at - 1);
  test::write_text(scratch / "probe.sh", line + "\nprintf %s \"$" + var + "\"\n");
  auto r = test::run_shell("cd " + test::shell_quote(scratch.string()) + " && bash probe.sh");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

TEST(SlurmScript, HostilePathsAreQuotedNotExecuted) {
  test::ScratchDir scratch;
  const std::string run = (scratch.path() / "run dir 'q' \"dq\" $(touch pwned1) `touch pwned2` ;x").string();
  Config cfg = golden_config("");
  cfg.run.run_dir = run;
  cfg.file = scratch.path() / "cfg $(touch pwned3)'.toml";
  auto ctx = context(cfg);
  for (const std::string& script :
       {slurm::array_script(ctx, {0, 1}, ""), slurm::gm_script(ctx), slurm::collect_script(ctx)}) {
    test::write_text(scratch / "s.sh", script);
    auto syntax = test::run_shell("bash -n " + test::shell_quote((scratch / "s.sh").string()));
    EXPECT_EQ(syntax.exit_code, 0) << syntax.output;
    EXPECT_EQ(assigned_value(script, "RUN_DIR", scratch.path()), run);
    EXPECT_EQ(assigned_value(script, "CONFIG", scratch.path()), cfg.file.string());
    // Paths stay out of #SBATCH lines, which sbatch parses with its own (non-shell) rules.
    std::size_t body = script.find("\nset -uo");
    EXPECT_EQ(script.substr(0, body).find(run), std::string::npos);
  }
  for (const char* f : {"pwned1", "pwned2", "pwned3"}) EXPECT_FALSE(fs::exists(scratch / f)) << f;
}

TEST(SlurmScript, HostileConfigValuesAreRejected) {
  EXPECT_THROW(golden_config("partition = \"gpu;rm -rf /\"\n"), UsageError);
  EXPECT_THROW(golden_config("account = \"$(id)\"\n"), UsageError);
  EXPECT_THROW(golden_config("mem = \"8G\\n#SBATCH --uid=0\"\n"), UsageError);
  EXPECT_THROW(golden_config("time = \"1:00 `id`\"\n"), UsageError);
  EXPECT_THROW(golden_config("extra_sbatch = [\"--comment=a b\"]\n"), UsageError);
  EXPECT_THROW(golden_config("extra_sbatch = [\"--x=$(id)\"]\n"), UsageError);
  std::string bad_id = "[run]\nrun_dir = \"/r\"\n[[data.subject]]\nid = \"S1$(touch x)\"\ninput = \"/v.avi\"\n";
  try {
    parse_config(bad_id, "/configs/bad.toml", false);
    ADD_FAILURE() << "hostile subject id accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("/configs/bad.toml"), std::string::npos) << e.what();
  }
}

TEST(SlurmScript, TemplateErrorsNameFileAndLine) {
  try {
    slurm::render_template("a\nb {{NOPE}}\n", {{"X", "1"}}, "/t/array.sbatch");
    ADD_FAILURE() << "unknown placeholder accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("/t/array.sbatch:2: unknown placeholder {{NOPE}}"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(slurm::render_template("x {{X", {{"X", "1"}}, "/t/gm.sbatch"), UsageError);
  EXPECT_EQ(slurm::render_template("{{X}}-{{X}}", {{"X", "a'b"}}, "t"), "a'b-a'b");
}

TEST(SlurmScript, UserTemplatesOverrideShippedOnes) {
  test::ScratchDir scratch;
  fs::create_directories(scratch / "tpl");
  for (const char* f : {"array.sbatch", "gm.sbatch", "collect.sbatch", "preempt.bash"})
    fs::copy_file(fs::path(PSMFLOW_SOURCE_DIR) / "slurm" / f, scratch / "tpl" / f);
  test::write_text(scratch / "tpl" / "collect.sbatch",
                   "#!/bin/bash\n#SBATCH --time={{TIME}}\n# site rule\n{{PSMFLOW}} run {{CONFIG}}\n");
  Config cfg = golden_config("templates = \"" + (scratch / "tpl").string() + "\"\n");
  auto ctx = context(cfg);
  EXPECT_EQ(
      slurm::collect_script(ctx),
      "#!/bin/bash\n#SBATCH --time=02:00:00\n# site rule\n'/opt/psmflow/bin/psmflow' run '/configs/golden.toml'\n");
}

TEST(SlurmScript, ArraysSplitAtMaxArraySize) {
  std::vector<int> shards(2500);
  for (int i = 0; i < 2500; ++i) shards[i] = i;
  auto parts = slurm::split_arrays(shards, 1001);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 1001u);
  EXPECT_EQ(parts[1].front(), 1001);
  EXPECT_EQ(parts[2].size(), 498u);
  EXPECT_EQ(parts[2].back(), 2499);
  EXPECT_EQ(slurm::split_arrays({3, 7}, 5).size(), 1u);
}

TEST(SlurmShards, RoundRobinOverSortedIdsLikeRunShard) {
  for (int n : {1, 4, 5, 9, 1000})
    for (int per : {1, 2, 3, 4}) {
      std::vector<std::string> ids;
      for (int i = n - 1; i >= 0; --i) ids.push_back("S" + std::to_string(10000 + i));
      int count = slurm::shard_count(n, per);
      std::set<std::string> seen;
      for (int k = 0; k < count; ++k) {
        auto sub = slurm::shard_subjects(ids, k, count);
        EXPECT_GE(sub.size(), 1u);
        EXPECT_LE(sub.size(), static_cast<std::size_t>(per)) << n << " subjects, " << per << " per task";
        seen.insert(sub.begin(), sub.end());
      }
      EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
    }
  Config cfg = golden_config("subjects_per_task = 2\n");
  auto shards = slurm::plan_shards(cfg);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].subjects, (std::vector<std::string>{"S01", "S04"}));
  EXPECT_EQ(shards[2].subjects, (std::vector<std::string>{"S03"}));
}

}  // namespace
}  // namespace psmflow
