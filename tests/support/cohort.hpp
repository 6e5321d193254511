// Shared by the dist tests: a small cohort of dummy inputs with a config, the fake stage hook and
// its work log.
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace psmflow::test {

// n subjects S01..Sn whose input files have sizes 1000*(n+1-i) bytes (S01 largest), a config.
inline fs::path make_cohort(const fs::path& dir, int n, const std::string& extra_toml = "") {
  fs::create_directories(dir / "videos");
  std::string ids;
  for (int i = 1; i <= n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "S%02d", i);
    std::ofstream(dir / "videos" / (std::string(id) + ".avi")) << std::string(1000 * (n + 1 - i), 'x');
    ids += std::string(i > 1 ? ", " : "") + "\"" + id + "\"";
  }
  fs::path cfg = dir / "run.toml";
  write_text(cfg, "[run]\nrun_dir = \"run\"\nthreads = 1\n[data]\nids = [" + ids + "]\ninput = \"videos/{id}.avi\"\n" +
                      extra_toml);
  return cfg;
}

inline std::string fake_hook() { return std::string("exec ") + shell_quote(PSMFLOW_FAKE_STAGE) + " \"$@\""; }

struct WorkLine {
  int rank = 0;
  std::string subject, stage;
  int attempt = 1;
};
inline std::vector<WorkLine> read_work_log(const fs::path& file) {
  std::vector<WorkLine> out;
  std::ifstream in(file);
  WorkLine w;
  while (in >> w.rank >> w.subject >> w.stage >> w.attempt) out.push_back(w);
  return out;
}

}  // namespace psmflow::test
