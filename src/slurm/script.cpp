#include "psmflow/slurm/script.hpp"

#include <unistd.h>

#include <algorithm>

#include "psmflow/config/config.hpp"
#include "psmflow/core/error.hpp"
#include "psmflow/core/fs.hpp"
#include "psmflow/core/hash.hpp"
#include "psmflow/core/install.hpp"

namespace psmflow::slurm {
namespace {

std::string sbatch_line(const std::string& option) { return "#SBATCH " + option + "\n"; }

// Scheduler options shared by all three jobs; each value was validated by config validation.
std::string common_sbatch(const SlurmSection& s) {
  std::string out;
  if (!s.partition.empty()) out += sbatch_line("--partition=" + s.partition);
  if (!s.account.empty()) out += sbatch_line("--account=" + s.account);
  if (!s.qos.empty()) out += sbatch_line("--qos=" + s.qos);
  for (const auto& o : s.extra_sbatch) out += sbatch_line(o);
  return out;
}

std::string read_template(const ScriptContext& ctx, const std::string& name) {
  fs::path p = ctx.templates / name;
  if (!fs::is_regular_file(p)) throw UsageError("Slurm template " + p.string() + " does not exist");
  return read_file(p);
}

std::map<std::string, std::string> common_values(const ScriptContext& ctx, const std::string& kind) {
  const SlurmSection& s = ctx.cfg->slurm;
  return {{"JOB_NAME", "psm-" + ctx.job_tag + "-" + kind},
          {"SBATCH_COMMON", common_sbatch(s)},
          {"SIGNAL_LEAD", std::to_string(s.signal_lead_s)},
          {"MAX_REQUEUES", std::to_string(s.max_requeues)},
          {"RUN_DIR", shell_quote(ctx.run_dir.string())},
          {"RUN_LOCK", shell_quote(ctx.run_lock)},
          {"CONFIG", shell_quote(ctx.config_file.string())},
          {"PSMFLOW", shell_quote(ctx.psmflow_bin.string())},
          {"CPUS_PER_TASK", std::to_string(s.cpus_per_task)},
          {"MEM", s.mem},
          {"PREEMPT_FUNCTIONS", read_template(ctx, "preempt.bash")}};
}

std::string render(const ScriptContext& ctx, const std::string& name, const std::map<std::string, std::string>& v) {
  return render_template(read_template(ctx, name), v, ctx.templates / name);
}

}  // namespace

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string render_template(const std::string& text, const std::map<std::string, std::string>& values,
                            const fs::path& origin) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t open = text.find("{{", pos);
    if (open == std::string::npos) break;
    std::size_t close = text.find("}}", open);
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + open, '\n'));
    std::string where = origin.string() + ":" + std::to_string(line);
    if (close == std::string::npos) throw UsageError(where + ": unclosed placeholder '{{'");
    std::string name = text.substr(open + 2, close - open - 2);
    auto it = values.find(name);
    if (it == values.end()) throw UsageError(where + ": unknown placeholder {{" + name + "}}");
    out.append(text, pos, open - pos).append(it->second);
    pos = close + 2;
  }
  return out.append(text, pos);
}

ScriptContext make_context(const Config& cfg, const fs::path& run_dir) {
  ScriptContext ctx;
  ctx.cfg = &cfg;
  ctx.run_dir = fs::absolute(run_dir).lexically_normal();
  ctx.config_file = fs::absolute(cfg.file).lexically_normal();
  ctx.templates = cfg.slurm.templates.empty() ? data_dir() / "slurm" : cfg.slurm.templates;
  if (!cfg.slurm.psmflow_bin.empty())
    ctx.psmflow_bin = fs::absolute(cfg.slurm.psmflow_bin);
  else
    ctx.psmflow_bin = fs::read_symlink("/proc/self/exe");
  ctx.job_tag = sha256_hex(ctx.run_dir.string()).substr(0, 6);
  return ctx;
}

std::string array_script(const ScriptContext& ctx, const std::vector<int>& shard_map, const std::string& name_suffix) {
  const SlurmSection& s = ctx.cfg->slurm;
  auto v = common_values(ctx, "subj" + name_suffix);
  std::string array = "0-" + std::to_string(shard_map.size() - 1);
  if (s.throttle > 0) array += "%" + std::to_string(s.throttle);
  std::string map;
  for (int k : shard_map) map += (map.empty() ? "" : " ") + std::to_string(k);
  std::string gpus = s.gpus_per_task > 0 ? sbatch_line("--gres=gpu:" + std::to_string(s.gpus_per_task)) : "";
  v.insert({{"ARRAY", array},
            {"TIME", s.time},
            {"SBATCH_GPUS", gpus},
            {"SHARD_MAP", map},
            {"SHARD_COUNT", std::to_string(ctx.shard_count)}});
  return render(ctx, "array.sbatch", v);
}

std::string gm_script(const ScriptContext& ctx) {
  const SlurmSection& s = ctx.cfg->slurm;
  auto v = common_values(ctx, "gm");
  // One rank per GPU on GPU nodes; otherwise gm_ranks_per_node CPU ranks per node.
  bool gpu = s.gm_gpus_per_node > 0;
  int ranks = gpu ? s.gm_gpus_per_node : s.gm_ranks_per_node;
  v.insert({{"NODES", std::to_string(s.gm_nodes)},
            {"RANKS_PER_NODE", std::to_string(ranks)},
            {"TIME", s.gm_time},
            {"SBATCH_GPUS", gpu ? sbatch_line("--gres=gpu:" + std::to_string(s.gm_gpus_per_node)) : ""}});
  return render(ctx, "gm.sbatch", v);
}

std::string collect_script(const ScriptContext& ctx) {
  auto v = common_values(ctx, "collect");
  v.insert({{"TIME", ctx.cfg->slurm.collect_time}});
  return render(ctx, "collect.sbatch", v);
}

std::vector<std::vector<int>> split_arrays(const std::vector<int>& shards, int max_array_size) {
  std::vector<std::vector<int>> out;
  std::size_t size = static_cast<std::size_t>(std::max(1, max_array_size));
  for (std::size_t i = 0; i < shards.size(); i += size)
    out.emplace_back(shards.begin() + i, shards.begin() + std::min(shards.size(), i + size));
  return out;
}

}  // namespace psmflow::slurm
