// sbatch scripts from templates (slurm/array.sbatch, gm.sbatch, collect.sbatch, preempt.bash):
// {{NAME}} placeholders are replaced by values that are either validated (numbers, Slurm times,
// config words checked by config validation) or single-quoted for the shell. Paths never appear
// in #SBATCH lines: sbatch runs in RUN_DIR, so log paths there are relative.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace psmflow {
struct Config;

namespace slurm {
namespace fs = std::filesystem;

// 'text' with embedded single quotes closed and escaped: safe as one shell word.
std::string shell_quote(std::string_view s);

// Replaces every {{NAME}} in text; an unknown or unclosed placeholder is a UsageError naming origin.
std::string render_template(const std::string& text, const std::map<std::string, std::string>& values,
                            const fs::path& origin);

struct ScriptContext {
  const Config* cfg = nullptr;
  fs::path run_dir;      // absolute
  fs::path config_file;  // absolute, the config the jobs run with
  fs::path psmflow_bin;  // the binary (or a stand-in) the jobs call
  fs::path templates;    // folder with the four templates
  int shard_count = 0;
  std::string job_tag;  // short tag in job names, from the run directory
  std::string run_lock;  // exported to the jobs as PSMFLOW_RUN_LOCK: they share RUN_DIR/run.lock
};

// Fills templates, job_tag and psmflow_bin from the config (defaults: shipped slurm/, this binary).
ScriptContext make_context(const Config& cfg, const fs::path& run_dir);

// One array job over the given shards; task i runs shard shard_map[i].
std::string array_script(const ScriptContext& ctx, const std::vector<int>& shard_map, const std::string& name_suffix);
std::string gm_script(const ScriptContext& ctx);
std::string collect_script(const ScriptContext& ctx);

// Splits shards into arrays of at most max_array_size tasks (indices 0..size-1 each).
std::vector<std::vector<int>> split_arrays(const std::vector<int>& shards, int max_array_size);

}  // namespace slurm
}  // namespace psmflow
